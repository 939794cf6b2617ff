"""The live sources of the compatibility data, read over HTTP.

- the ``nvidia/cuda`` repository through the registry API: its tags, and each image
  config's env (``CUDA_VERSION``, ``NVIDIA_REQUIRE_CUDA``, ``NV_CUDNN_VERSION``) per
  architecture;
- torch's per-CUDA wheel indexes (PEP 691 JSON, or PEP 503 HTML): wheel file names;
- the deadsnakes PPA's apt ``Packages`` index per Ubuntu release: its ``python3.X``.
"""

from __future__ import annotations

import gzip
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from builder.errors import RpbuildError
from builder.registry.client import RegistryClient, is_loopback
from builder.registry.reference import ImageRef

ARCHITECTURES = ("amd64", "arm64")
_NEXT = re.compile(r'<([^>]+)>;\s*rel="?next"?')
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_INDEX_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)


class SourceError(RpbuildError):
    """A live source answered something rpbuild cannot read; the message names it."""


class Images:
    """Tags and image configs of one repository (``nvidia/cuda``), configs cached."""

    def __init__(self, registry: str, repository: str) -> None:
        self.ref = ImageRef(registry, repository, "latest", None)
        self.client = RegistryClient(registry)
        self._env: dict[str, dict[str, dict[str, str]]] = {}

    def tags(self) -> list[str]:
        """Every tag, following the registry's pagination (Link: <...>; rel="next")."""
        found: list[str] = []
        path = "tags/list?n=1000"
        while path:
            headers, body = self.client.get(self.ref, path)
            found += json.loads(body).get("tags") or []
            link = _NEXT.search(headers.get("Link", ""))
            path = link[1].split(f"/v2/{self.ref.repository}/", 1)[-1] if link else ""
        return found

    def env(self, tag: str) -> dict[str, dict[str, str]]:
        """The config env of ``tag`` per architecture (linux only)."""
        if tag not in self._env:
            self._env[tag] = dict(self._platform_envs(tag))
        return self._env[tag]

    def _platform_envs(self, tag: str) -> Iterator[tuple[str, dict[str, str]]]:
        headers, body = self.client.get(self.ref, f"manifests/{tag}")
        manifest = json.loads(body)
        kind = manifest.get("mediaType") or headers.get("Content-Type", "")
        if kind not in _INDEX_MEDIA_TYPES:
            config = self._config(manifest)
            yield config.get("architecture", "amd64"), _env_dict(config)
            return
        for entry in manifest.get("manifests") or []:
            platform = entry.get("platform") or {}
            if platform.get("os") == "linux" and platform.get("architecture") in ARCHITECTURES:
                _, inner = self.client.get(self.ref, f"manifests/{entry['digest']}")
                yield platform["architecture"], _env_dict(self._config(json.loads(inner)))

    def _config(self, manifest: dict[str, Any]) -> dict[str, Any]:
        digest = (manifest.get("config") or {}).get("digest")
        if not digest:
            raise SourceError(f"{self.ref.repository}: a manifest without a config")
        _, body = self.client.get(self.ref, f"blobs/{digest}")
        config: dict[str, Any] = json.loads(body)
        return config


def _env_dict(config: dict[str, Any]) -> dict[str, str]:
    pairs = (item.partition("=") for item in (config.get("config") or {}).get("Env") or [])
    return {key: value for key, _, value in pairs}


def _fetch(url: str, accept: str = "*/*") -> tuple[str, bytes] | None:
    """GET ``url``: its content type and body; None when it does not exist (404)."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    host = urllib.parse.urlsplit(url).netloc
    handlers = [urllib.request.ProxyHandler({})] if is_loopback(host) else []
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=60) as answer:
            return answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise SourceError(f"{url} answered {error.code}") from error
    except OSError as error:
        raise SourceError(f"cannot read {url}: {error}") from error


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._in_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_link = tag == "a"

    def handle_data(self, data: str) -> None:
        if self._in_link and data.strip():
            self.names.append(data.strip())
            self._in_link = False


def wheel_files(index_url: str, project: str) -> list[str] | None:
    """File names on a simple index's project page; None when the index has no such page."""
    url = f"{index_url.rstrip('/')}/{project}/"
    answer = _fetch(url, f"{_SIMPLE_JSON}, text/html;q=0.1")
    if answer is None:
        return None
    kind, body = answer
    if kind.startswith(_SIMPLE_JSON):
        return [str(f["filename"]) for f in json.loads(body).get("files") or []]
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    return [urllib.parse.unquote(name) for name in parser.names]


def apt_packages(url: str) -> list[str] | None:
    """Package names of an apt ``Packages.gz`` index; None when the file does not exist."""
    answer = _fetch(url)
    if answer is None:
        return None
    text = gzip.decompress(answer[1]).decode("utf-8", "replace")
    return [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Package:")
    ]
