"""Credentials stay with their host: a registry that redirects elsewhere gets no password.

A small loopback front asks for basic auth, then answers 307 to a second, real
registry; the password is valid there too, so only a client that forwarded it
would be let in. Recording fakes show what each host received.
"""

from __future__ import annotations

import base64
import http.server
from collections.abc import Callable

import pytest

from builder import engine
from builder.registry.client import RegistryAuthError, RegistryClient, keeps_authorization
from builder.registry.credentials import Credentials
from builder.registry.push import push_tag
from builder.registry.reference import parse_ref
from tests.fixtures.registry import Handler, LocalRegistry, answer

DIGEST = "sha256:" + "cd" * 32


def redirecting_front(fake_registry: Callable[[Handler], str], target: str) -> str:
    """Basic auth first, then 307 to the same path on ``target`` (a base URL)."""

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        if "Authorization" not in request.headers:
            answer(request, 401, WWW_Authenticate='Basic realm="front"')
        else:
            answer(request, 307, Location=f"{target}{request.path}")

    return fake_registry(respond)


@pytest.mark.registry
@pytest.mark.docker
def test_a_redirect_to_another_registry_does_not_carry_the_password(
    auth_registry: LocalRegistry,
    tiny_image: Callable[..., str],
    fake_registry: Callable[[Handler], str],
) -> None:
    assert auth_registry.username and auth_registry.password
    credentials = Credentials(auth_registry.username, auth_registry.password)
    ref = parse_ref(tiny_image(f"{auth_registry.host}/rpbuild/redirect-test:v1"))
    push_tag(engine.sdk(), ref, credentials)
    assert RegistryClient(auth_registry.host, credentials).manifest_digest(ref)

    front = redirecting_front(fake_registry, f"http://{auth_registry.host}")
    client = RegistryClient(front, credentials, retry_delay=0)
    with pytest.raises(RegistryAuthError) as caught:
        client.manifest_digest(parse_ref(f"{front}/rpbuild/redirect-test:v1"))
    message = caught.value.format_message()
    assert auth_registry.password not in message


def _recorder(seen: list[str | None]) -> Handler:
    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(request.headers.get("Authorization"))
        answer(request, 200, Docker_Content_Digest=DIGEST)

    return respond


def test_the_other_host_receives_no_authorization_header(
    fake_registry: Callable[[Handler], str],
) -> None:
    seen: list[str | None] = []
    other = fake_registry(_recorder(seen))
    front = redirecting_front(fake_registry, f"http://{other}")
    client = RegistryClient(front, Credentials("ci", "pw"), retry_delay=0)
    assert client.manifest_digest(parse_ref(f"{front}/a/b:1")) == DIGEST
    assert seen == [None]


def test_a_redirect_on_the_same_host_keeps_the_credentials(
    fake_registry: Callable[[Handler], str],
) -> None:
    seen: list[str | None] = []
    basic = "Basic " + base64.b64encode(b"ci:pw").decode()

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        if request.path.startswith("/moved"):
            _recorder(seen)(request)
        elif "Authorization" not in request.headers:
            answer(request, 401, WWW_Authenticate='Basic realm="front"')
        else:
            answer(request, 307, Location=f"/moved{request.path}")

    host = fake_registry(respond)
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
    fake_registry: Callable[[Handler], str], caplog: pytest.LogCaptureFixture
) -> None:
    other = fake_registry(lambda request: answer(request, 403))
    front = redirecting_front(fake_registry, f"http://{other}")
    caplog.set_level("DEBUG")
    client = RegistryClient(front, Credentials("ci", "pa55word-xyz"), retry_delay=0)
    with pytest.raises(RegistryAuthError) as caught:
        client.manifest_digest(parse_ref(f"{front}/a/b:1"))
    encoded = base64.b64encode(b"ci:pa55word-xyz").decode()
    for text in (caught.value.format_message(), caplog.text):
        assert "pa55word-xyz" not in text
        assert encoded not in text
