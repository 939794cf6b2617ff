"""Credentials stay with their host: a registry that redirects elsewhere gets no password.

A small loopback front asks for basic auth, then answers 307 to a second, real
registry; the password is valid there too, so only a client that forwarded it
would be let in. Recording fakes show what each host received.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from builder.registry.client import RegistryAuthError, RegistryClient, keeps_authorization
from builder.registry.credentials import Credentials
from builder.registry.push import push_tag
from builder.registry.reference import parse_ref
from tests.fixtures.registry import LocalRegistry

DIGEST = "sha256:" + "cd" * 32
Respond = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Respond], str]]:
    """Start a loopback HTTP server answering with ``respond``; returns host:port."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(respond: Respond) -> str:
        class _Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                respond(self)

            do_HEAD = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _answer(request: http.server.BaseHTTPRequestHandler, code: int, **headers: str) -> None:
    request.send_response(code)
    for key, value in headers.items():
        request.send_header(key.replace("_", "-"), value)
    request.send_header("Content-Length", "0")
    request.end_headers()


def redirecting_front(serve: Callable[[Respond], str], target: str) -> str:
    """Basic auth first, then 307 to the same path on ``target`` (a base URL)."""

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        if "Authorization" not in request.headers:
            _answer(request, 401, WWW_Authenticate='Basic realm="front"')
        else:
            _answer(request, 307, Location=f"{target}{request.path}")

    return serve(respond)


@pytest.mark.registry
@pytest.mark.docker
def test_a_redirect_to_another_registry_does_not_carry_the_password(
    auth_registry: LocalRegistry, tiny_image: Callable[..., str], serve: Callable[[Respond], str]
) -> None:
    assert auth_registry.username and auth_registry.password
    credentials = Credentials(auth_registry.username, auth_registry.password)
    ref = parse_ref(tiny_image(f"{auth_registry.host}/rpbuild/redirect-test:v1"))
    push_tag(docker.from_env(), ref, credentials)
    assert RegistryClient(auth_registry.host, credentials).manifest_digest(ref)

    front = redirecting_front(serve, f"http://{auth_registry.host}")
    client = RegistryClient(front, credentials, retry_delay=0)
    with pytest.raises(RegistryAuthError) as caught:
        client.manifest_digest(parse_ref(f"{front}/rpbuild/redirect-test:v1"))
    message = caught.value.format_message()
    assert auth_registry.password not in message


def _recorder(seen: list[str | None]) -> Respond:
    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(request.headers.get("Authorization"))
        _answer(request, 200, Docker_Content_Digest=DIGEST)

    return respond


def test_the_other_host_receives_no_authorization_header(
    serve: Callable[[Respond], str],
) -> None:
    seen: list[str | None] = []
    other = serve(_recorder(seen))
    front = redirecting_front(serve, f"http://{other}")
    client = RegistryClient(front, Credentials("ci", "pw"), retry_delay=0)
    assert client.manifest_digest(parse_ref(f"{front}/a/b:1")) == DIGEST
    assert seen == [None]


def test_a_redirect_on_the_same_host_keeps_the_credentials(
    serve: Callable[[Respond], str],
) -> None:
    seen: list[str | None] = []
    basic = "Basic " + base64.b64encode(b"ci:pw").decode()

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        if request.path.startswith("/moved"):
            _recorder(seen)(request)
        elif "Authorization" not in request.headers:
            _answer(request, 401, WWW_Authenticate='Basic realm="front"')
        else:
            _answer(request, 307, Location=f"/moved{request.path}")

    host = serve(respond)
    client = RegistryClient(host, Credentials("ci", "pw"), retry_delay=0)
    assert client.manifest_digest(parse_ref(f"{host}/a/b:1")) == DIGEST
    assert seen == [basic]


@pytest.mark.parametrize(
    ("old", "new", "kept"),
    [
        ("https://r.io/v2/a", "https://r.io/v2/b", True),
        ("https://r.io/v2/a", "/v2/b", True),
        ("https://r.io/v2/a", "https://R.IO/v2/b", True),
        ("http://127.0.0.1:5000/v2/a", "http://127.0.0.1:5000/v2/b", True),
        ("https://r.io/v2/a", "http://r.io/v2/a", False),
        ("https://r.io/v2/a", "https://evil.io/v2/a", False),
        ("https://r.io/v2/a", "https://r.io:8443/v2/a", False),
        ("https://r.io/v2/a", "https://r.io.evil.io/v2/a", False),
        ("http://127.0.0.1:5000/v2/a", "http://127.0.0.1:5001/v2/a", False),
    ],
)
def test_authorization_is_kept_only_on_the_same_origin(old: str, new: str, kept: bool) -> None:
    assert keeps_authorization(old, new) is kept


def test_tokens_and_passwords_are_never_logged(
    serve: Callable[[Respond], str], caplog: pytest.LogCaptureFixture
) -> None:
    other = serve(lambda request: _answer(request, 403))
    front = redirecting_front(serve, f"http://{other}")
    caplog.set_level("DEBUG")
    client = RegistryClient(front, Credentials("ci", "pa55word-xyz"), retry_delay=0)
    with pytest.raises(RegistryAuthError) as caught:
        client.manifest_digest(parse_ref(f"{front}/a/b:1"))
    encoded = base64.b64encode(b"ci:pa55word-xyz").decode()
    for text in (caught.value.format_message(), caplog.text):
        assert "pa55word-xyz" not in text
        assert encoded not in text
