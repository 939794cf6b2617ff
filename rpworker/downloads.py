"""``rp_download``: fetch the files a job's input points at, as the SDK does.

``download_files_from_urls`` saves into ``jobs/<job_id>/downloaded_files/``
(3 tries, absolute paths, ``None`` for a URL that failed); ``file`` saves into
``job_files/`` and extracts a zip archive beside it. As in SDK 1.12, a URL
whose host is not a public address is refused (set
``RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS=true`` to allow it) and a body over
``RUNPOD_MAX_DOWNLOAD_BYTES`` (default 5 GiB) is cut off.

Both are plain blocking calls on the caller's thread (parallel URLs on a
thread pool), with no event loop of their own: an ``async def`` handler that
calls them blocks its loop exactly as long as the download takes.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import Message
from http.client import HTTPResponse
from typing import Any
from urllib.parse import urljoin, urlparse

HEADERS = {"User-Agent": "runpod-python/0.0.0 (https://runpod.io; support@runpod.io)"}
ALLOW_PRIVATE_ENV = "RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS"
MAX_BYTES_ENV = "RUNPOD_MAX_DOWNLOAD_BYTES"
DEFAULT_MAX_BYTES = 5 * 1024**3
MAX_REDIRECTS = 5
TRIES = 3


class DownloadError(OSError):
    """A download failed in a way worth retrying (HTTP error, connection, timeout)."""


class UnsafeURLError(ValueError):
    """A URL refused before any byte is fetched: not http(s), a private host, too large.

    A ValueError, like the SDK's SSRFError: it is not retried and not turned into ``None``.
    """


def _private_allowed() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes")


def max_download_bytes() -> int:
    try:
        value = int(os.environ.get(MAX_BYTES_ENV, ""))
    except ValueError:
        return DEFAULT_MAX_BYTES
    return value if value > 0 else DEFAULT_MAX_BYTES


def is_public_address(ip: str) -> bool:
    try:
        address: Any = ipaddress.ip_address(ip)
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    if address in ipaddress.ip_network("100.64.0.0/10"):
        return False
    return bool(address.is_global) and not (address.is_multicast or address.is_reserved)


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(f"blocked URL scheme {parsed.scheme!r}: {url}")
    if not parsed.hostname:
        raise UnsafeURLError(f"URL has no host: {url}")
    if _private_allowed():
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DownloadError(f"could not resolve host {parsed.hostname!r}: {exc}") from exc
    for info in infos:
        ip = str(info[4][0])
        if not is_public_address(ip):
            raise UnsafeURLError(
                f"host {parsed.hostname!r} resolves to non-public address {ip}; set "
                f"{ALLOW_PRIVATE_ENV}=true to download from it"
            )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by :func:`_open`, which checks every hop."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@contextmanager
def _open(url: str, timeout: float) -> Iterator[HTTPResponse]:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        _check_url(current)
        request = urllib.request.Request(current, headers=HEADERS)
        try:
            response = _OPENER.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            location = (
                exc.headers.get("Location") if exc.code in (301, 302, 303, 307, 308) else None
            )
            exc.close()
            if location:
                current = urljoin(current, location)
                continue
            raise DownloadError(f"HTTP {exc.code} from {current}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DownloadError(f"{current}: {exc}") from exc
        with response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_download_bytes():
                raise UnsafeURLError(
                    f"download exceeds size cap: {declared} > {max_download_bytes()} bytes"
                )
            yield response
        return
    raise UnsafeURLError(f"exceeded maximum redirects ({MAX_REDIRECTS}): {url}")


def calculate_chunk_size(file_size: int) -> int:
    """1 KB chunks up to 1 MB, 1 MB up to 1 GB, 10 MB beyond, as the SDK reads."""
    if file_size <= 1024 * 1024:
        return 1024
    if file_size <= 1024**3:
        return 1024 * 1024
    return 10 * 1024 * 1024


def parse_content_length(headers: Message | dict[str, str]) -> int:
    """The declared size, 0 when absent or malformed (the size cap is enforced while reading)."""
    try:
        return int(headers.get("Content-Length", 0) or 0)
    except (TypeError, ValueError):
        return 0


def extract_disposition_params(content_disposition: str) -> dict[str, str]:
    """``key=value`` parameters of a Content-Disposition header, keys lower-cased."""
    params = {}
    for part in content_disposition.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return params


def _save(response: HTTPResponse, path: str) -> None:
    limit = max_download_bytes()
    total = 0
    size = calculate_chunk_size(parse_content_length(response.headers))
    with open(path, "wb") as out:
        try:
            while chunk := response.read(size):
                total += len(chunk)
                if total > limit:
                    raise UnsafeURLError(f"download exceeds size cap: >{limit} bytes")
                out.write(chunk)
        except (OSError, TimeoutError) as exc:
            raise DownloadError(f"download interrupted: {exc}") from exc


def _disposition_filename(headers: Message) -> str:
    return extract_disposition_params(headers.get("Content-Disposition") or "").get("filename", "")


def _download(url: str, base_path: str) -> str:
    """Save ``url`` to ``base_path`` + its extension, trying 3 times; the extension."""
    for attempt in range(1, TRIES + 1):
        try:
            with _open(url, timeout=5) as response:
                name = _disposition_filename(response.headers) or urlparse(url).path
                extension = os.path.splitext(name)[1]
                _save(response, base_path + extension)
                return extension
        except DownloadError:
            if attempt == TRIES:
                raise
            time.sleep(random.uniform(0, 2 ** (attempt - 1)))
    raise AssertionError("unreachable")


def download_files_from_urls(job_id: str, urls: str | list[str | None]) -> list[str | None]:
    """Download each URL into ``jobs/<job_id>/downloaded_files/``; absolute paths or None."""
    directory = os.path.abspath(os.path.join("jobs", job_id, "downloaded_files"))
    os.makedirs(directory, exist_ok=True)

    def one(url: str | None) -> str | None:
        if url is None:
            return None
        base = os.path.join(directory, str(uuid.uuid4()))
        try:
            extension = _download(url, base)
        except DownloadError as exc:
            print(f"Failed to download {url}: {exc}")
            return None
        return os.path.abspath(base + extension)

    with ThreadPoolExecutor() as pool:
        return list(pool.map(one, [urls] if isinstance(urls, str) else urls))


def file(file_url: str) -> dict[str, Any]:
    """Download into ``job_files/`` (one try), extracting a zip; paths and names."""
    os.makedirs("job_files", exist_ok=True)
    name = str(uuid.uuid4())
    with _open(file_url, timeout=30) as response:
        original = _disposition_filename(response.headers) or os.path.basename(
            urlparse(file_url).path
        )
        file_type = os.path.splitext(original)[1].replace(".", "")
        path = os.path.join("job_files", f"{name}.{file_type}")
        _save(response, path)
    extracted = None
    if file_type == "zip":
        extracted = os.path.join("job_files", name)
        os.makedirs(extracted, exist_ok=True)
        with zipfile.ZipFile(path) as archive:
            archive.extractall(extracted)
        extracted = os.path.abspath(extracted)
    return {
        "file_path": os.path.abspath(path),
        "type": file_type,
        "original_name": original,
        "extracted_path": extracted,
    }
