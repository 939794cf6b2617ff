"""The registry API v2 client against real registries on loopback.

Debian's docker-registry for basic auth and the real error answers; a small stdlib
HTTP server for what that registry cannot do here (bearer tokens, 503s).
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
from collections.abc import Callable, Iterator

import pytest

from builder import engine
from builder.registry.client import (
    ManifestUnknownError,
    RegistryAuthError,
    RegistryClient,
    RegistryUnreachableError,
    TransientRegistryError,
)
from builder.registry.credentials import Credentials
from builder.registry.push import push_tag
from builder.registry.reference import parse_ref
from tests.fixtures.registry import Handler, LocalRegistry, answer

DIGEST = "sha256:" + "ab" * 32


def test_bearer_token_flow_sends_credentials_to_the_realm_and_the_token_back(
    fake_registry: Callable[[Handler], str],
) -> None:
    seen: dict[str, str] = {}
    basic = "Basic " + base64.b64encode(b"ci:pw").decode()

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        if request.path.startswith("/token"):
            seen["token_auth"] = request.headers.get("Authorization", "")
            seen["token_query"] = request.path
            body = json.dumps({"token": "t0k"}).encode()
            request.send_response(200)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        elif request.headers.get("Authorization") == "Bearer t0k":
            seen["accept"] = request.headers.get("Accept", "")
            answer(request, 200, Docker_Content_Digest=DIGEST)
        else:
            realm = f"http://{request.headers['Host']}/token"
            challenge = f'Bearer realm="{realm}",service="reg",scope="repository:a/b:pull"'
            answer(request, 401, WWW_Authenticate=challenge)

    host = fake_registry(handle)
    client = RegistryClient(host, Credentials("ci", "pw"))
    assert client.manifest_digest(parse_ref(f"{host}/a/b:1")) == DIGEST
    assert seen["token_auth"] == basic
    assert (
        "service=reg" in seen["token_query"]
        and "scope=repository%3Aa%2Fb%3Apull" in (seen["token_query"])
    )
    for media_type in ("manifest.v2+json", "manifest.list.v2+json", "oci.image.index.v1+json"):
        assert media_type in seen["accept"]


def test_transient_5xx_is_retried_then_succeeds(fake_registry: Callable[[Handler], str]) -> None:
    calls: list[str] = []

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        calls.append(request.command)
        if len(calls) < 3:
            answer(request, 503)
        else:
            answer(request, 200, Docker_Content_Digest=DIGEST)

    host = fake_registry(handle)
    client = RegistryClient(host, retry_delay=0)
    assert client.manifest_digest(parse_ref(f"{host}/a:1")) == DIGEST
    assert calls == ["HEAD", "HEAD", "HEAD"]


def test_persistent_5xx_gives_up_with_a_typed_error(
    fake_registry: Callable[[Handler], str],
) -> None:
    calls: list[str] = []

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        calls.append(request.command)
        answer(request, 502)

    client = RegistryClient(fake_registry(handle), attempts=2, retry_delay=0)
    with pytest.raises(TransientRegistryError, match="502"):
        client.manifest_digest(parse_ref(f"{client.registry}/a:1"))
    assert calls == ["HEAD", "HEAD"]


def test_registry_down_is_unreachable(dead_registry_host: str) -> None:
    client = RegistryClient(dead_registry_host, retry_delay=0)
    with pytest.raises(RegistryUnreachableError, match="connection refused"):
        client.manifest_digest(parse_ref(f"{dead_registry_host}/a:1"))


def test_an_unresolvable_host_is_named_as_dialled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker Hub's API host, not docker.io, and a network problem, not a bad reference."""

    def no_dns(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    client = RegistryClient("docker.io", retry_delay=0)
    with pytest.raises(RegistryUnreachableError) as raised:
        client.manifest_digest(parse_ref("nvidia/cuda:12.1.1-base-ubuntu22.04"))
    assert "cannot resolve the registry host registry-1.docker.io" in str(raised.value)
    assert "network connection" in str(raised.value)
    assert "docker.io'" not in str(raised.value)


@pytest.fixture(scope="module")
def pushed(registry: LocalRegistry) -> Iterator[tuple[str, str]]:
    """A tiny image pushed to the open registry: (reference, digest the engine reported)."""
    sdk = engine.sdk()
    ref = f"{registry.host}/rpbuild/registry-test:v1"
    sdk.client.api.import_image_from_data(b"", repository=ref.rsplit(":", 1)[0], tag="v1")
    yield ref, push_tag(sdk, parse_ref(ref), None).digest
    sdk.client.images.remove(ref)


@pytest.mark.registry
@pytest.mark.docker
def test_digest_matches_the_pushed_one(registry: LocalRegistry, pushed: tuple[str, str]) -> None:
    ref, digest = pushed
    assert RegistryClient(registry.host).manifest_digest(parse_ref(ref)) == digest


@pytest.mark.registry
@pytest.mark.docker
def test_unknown_tag_and_repository_are_named(
    registry: LocalRegistry, pushed: tuple[str, str]
) -> None:
    client = RegistryClient(registry.host)
    with pytest.raises(ManifestUnknownError, match="no 'nope' in rpbuild/registry-test"):
        client.manifest_digest(parse_ref(f"{registry.host}/rpbuild/registry-test:nope"))
    with pytest.raises(ManifestUnknownError, match="no repository 'rpbuild/absent'"):
        client.manifest_digest(parse_ref(f"{registry.host}/rpbuild/absent:v1"))


@pytest.mark.registry
@pytest.mark.docker
def test_basic_auth(auth_registry: LocalRegistry, tiny_image: Callable[..., str]) -> None:
    assert auth_registry.username and auth_registry.password
    good = Credentials(auth_registry.username, auth_registry.password)
    ref = parse_ref(tiny_image(f"{auth_registry.host}/rpbuild/auth-test:v1"))
    digest = push_tag(engine.sdk(), ref, good).digest

    assert RegistryClient(auth_registry.host, good).manifest_digest(ref) == digest
    with pytest.raises(RegistryAuthError, match="docker login"):
        RegistryClient(auth_registry.host).manifest_digest(ref)
    with pytest.raises(RegistryAuthError, match="refused"):
        RegistryClient(auth_registry.host, Credentials("rpbuild", "wrong")).manifest_digest(ref)
