"""A minimal client for the registry HTTP API v2: which digest does a tag point at now.

Verification after a push and the lock file both need the registry's own answer, not
the engine's. Auth follows the registry's challenge: basic, or the bearer token flow
(Docker Hub, GHCR). Loopback registries are spoken to over plain HTTP, as Docker does.
Credentials never follow a redirect to another origin: registries send blob and
manifest downloads to storage hosts, and urllib would forward the password there.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import Message
from typing import IO, Any, cast

from builder.errors import RpbuildError
from builder.registry.credentials import Credentials, resolve_credentials
from builder.registry.reference import ImageRef
from builder.registry.retry import TransientError, with_retries

MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RegistryError(RpbuildError):
    """A registry refused or failed a request."""


class RegistryAuthError(RegistryError):
    """Credentials missing or wrong."""


class RegistryUnreachableError(RegistryError):
    """Nothing answers at the registry's address, or the name does not resolve."""


class ManifestUnknownError(RegistryError):
    """The registry has no such repository or tag."""


class TransientRegistryError(RegistryError):
    """A 5xx, rate limit or timeout that remained after the retries."""


def login_hint(registry: str) -> str:
    return (
        f"pass --username and --password-stdin, set RPBUILD_REGISTRY_USERNAME and "
        f"RPBUILD_REGISTRY_PASSWORD, or run `docker login {registry}`"
    )


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def keeps_authorization(old_url: str, new_url: str) -> bool:
    """Whether a redirect may carry Authorization: only to the same scheme, host and
    port, so never to another host nor from HTTPS down to plain HTTP."""
    old = urllib.parse.urlsplit(old_url)
    new = urllib.parse.urlsplit(urllib.parse.urljoin(old_url, new_url))

    def origin(url: urllib.parse.SplitResult) -> tuple[str, str | None, int | None]:
        return url.scheme, url.hostname, url.port or _DEFAULT_PORTS.get(url.scheme)

    return origin(old) == origin(new)


class _SameOriginAuth(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib does, minus Authorization across origins."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not keeps_authorization(req.full_url, newurl):
            new.remove_header("Authorization")
        return new


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class RegistryClient:
    """One registry; tokens are cached per scope for the client's lifetime."""

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None = None,
        *,
        timeout: float = 30.0,
        attempts: int = 4,
        retry_delay: float = 1.0,
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self.timeout = timeout
        self.attempts = attempts
        self.retry_delay = retry_delay
        self._scheme = "http" if is_loopback(registry) else "https"
        self._tokens: dict[str, str] = {}
        handlers: list[urllib.request.BaseHandler] = [_SameOriginAuth()]
        if is_loopback(registry):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def manifest_digest(self, ref: ImageRef) -> str:
        """The Docker-Content-Digest the registry serves for ref's tag (or digest)."""
        path = f"/v2/{ref.repository}/manifests/{ref.reference}"
        scope = f"repository:{ref.repository}:pull"
        headers, _ = with_retries(
            lambda: self._request("HEAD", path, scope, ref),
            attempts=self.attempts,
            delay=self.retry_delay,
        )
        digest = headers.get("Docker-Content-Digest")
        if not digest:
            raise RegistryError(f"{self.registry} sent no Docker-Content-Digest for {ref}")
        return digest

    def manifest(self, ref: ImageRef) -> tuple[str, dict[str, Any]]:
        """The digest and the manifest (or manifest list) ref's tag or digest serves.

        The digest is computed from the bytes received, so a manifest is what it claims.
        """
        _, body = self.get(ref, f"manifests/{ref.reference}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.digest is not None and digest != ref.digest:
            raise RegistryError(f"{self.registry} sent a manifest for {ref} with digest {digest}")
        found: dict[str, Any] = json.loads(body)
        return digest, found

    def blob_json(self, ref: ImageRef, digest: str) -> dict[str, Any]:
        """A JSON blob of ref's repository (an image config), checked against its digest."""
        _, body = self.get(ref, f"blobs/{digest}")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError(f"{self.registry} sent a blob that is not {digest} for {ref}")
        found: dict[str, Any] = json.loads(body)
        return found

    def get(self, ref: ImageRef, path: str) -> tuple[Message, bytes]:
        """GET ``/v2/<ref's repository>/<path>``: a tag list, a manifest or a blob."""
        scope = f"repository:{ref.repository}:pull"
        return with_retries(
            lambda: self._request("GET", f"/v2/{ref.repository}/{path}", scope, ref),
            attempts=self.attempts,
            delay=self.retry_delay,
        )

    def _request(self, method: str, path: str, scope: str, ref: ImageRef) -> tuple[Message, bytes]:
        url = f"{self._scheme}://{ref.api_host}{path}"
        auth = self._tokens.get(scope)
        for _ in range(2):
            headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
            if auth:
                headers["Authorization"] = auth
            try:
                with self._open(urllib.request.Request(url, method=method, headers=headers)) as r:
                    return r.headers, r.read() if method == "GET" else b""
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and auth is None:
                    auth = self._authorize(exc.headers.get("WWW-Authenticate", ""), scope)
                    continue
                raise self._http_error(exc, ref, headers) from exc
        raise RegistryAuthError(
            f"{self.registry} refused the credentials for {ref}: {login_hint(self.registry)}"
        )

    def _open(self, request: urllib.request.Request) -> urllib.response.addinfourl:
        try:
            return cast(
                urllib.response.addinfourl, self._opener.open(request, timeout=self.timeout)
            )
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as exc:
            raise self._network_error(exc, request.host) from exc

    def _network_error(self, exc: OSError, host: str) -> Exception:
        """``host`` is the one dialled: registry-1.docker.io for a Docker Hub reference."""
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, ConnectionRefusedError):
            return RegistryUnreachableError(
                f"cannot reach the registry {host}: connection refused. Is it running, "
                "and are the host and port in the image reference right?"
            )
        if isinstance(reason, socket.gaierror):
            return RegistryUnreachableError(
                f"cannot resolve the registry host {host} ({reason.strerror}): check the "
                "network connection (DNS, proxy), or the image reference's registry part"
            )
        return TransientError(TransientRegistryError(f"cannot reach the registry {host}: {reason}"))

    def _authorize(self, challenge: str, scope: str) -> str:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if scheme.lower() == "basic":
            if self.credentials is None:
                raise RegistryAuthError(
                    f"{self.registry} requires a login: {login_hint(self.registry)}"
                )
            auth = _basic(self.credentials)
        elif scheme.lower() == "bearer" and "realm" in params:
            auth = "Bearer " + self._token(params, scope)
        else:
            raise RegistryError(f"{self.registry} asks for unsupported auth {challenge!r}")
        self._tokens[scope] = auth
        return auth

    def _token(self, params: dict[str, str], scope: str) -> str:
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url)
        if self.credentials is not None:
            request.add_header("Authorization", _basic(self.credentials))
        try:
            with self._open(request) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise RegistryAuthError(
                    f"{self.registry} refused the credentials: {login_hint(self.registry)}"
                ) from exc
            raise RegistryError(f"token service {params['realm']} answered {exc.code}") from exc
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"token service {params['realm']} sent no token")
        return str(token)

    def _http_error(
        self, exc: urllib.error.HTTPError, ref: ImageRef, headers: dict[str, str]
    ) -> Exception:
        if exc.code in (401, 403):
            return RegistryAuthError(
                f"{self.registry} refused access to {ref.repository} ({exc.code}): "
                + login_hint(self.registry)
            )
        if exc.code == 404:
            return self._unknown(ref, headers)
        if exc.code == 429 or exc.code >= 500:
            return TransientError(
                TransientRegistryError(f"{self.registry} answered {exc.code} for {ref}")
            )
        return RegistryError(f"{self.registry} answered {exc.code} for {ref}")

    def _unknown(self, ref: ImageRef, headers: dict[str, str]) -> ManifestUnknownError:
        """A manifest 404 does not say whether the repository exists: ask its tag list."""
        url = f"{self._scheme}://{ref.api_host}/v2/{ref.repository}/tags/list"
        try:
            with self._opener.open(
                urllib.request.Request(url, headers=headers), timeout=self.timeout
            ) as answer:
                tags = sorted(json.loads(answer.read()).get("tags") or [])
        except (OSError, ValueError):
            tags = None
        if tags is None:
            return ManifestUnknownError(
                f"{self.registry} has no repository {ref.repository!r} (or no access to it): "
                "check the name, or push it first"
            )
        known = ", ".join(tags[:10]) or "none"
        return ManifestUnknownError(
            f"{self.registry} has no {ref.reference!r} in {ref.repository} (tags: {known}): "
            "check the tag, or push it first"
        )


class DigestLookup:
    """Current digests of tags, one registry client (and its tokens) per registry host."""

    def __init__(
        self, credentials: Callable[[str], Credentials | None] = resolve_credentials
    ) -> None:
        self._credentials = credentials
        self._clients: dict[str, RegistryClient] = {}

    def __call__(self, ref: ImageRef) -> str:
        if ref.registry not in self._clients:
            self._clients[ref.registry] = RegistryClient(
                ref.registry, self._credentials(ref.registry)
            )
        return self._clients[ref.registry].manifest_digest(ref)
