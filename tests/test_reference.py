"""Image references split the way Docker splits them."""

from __future__ import annotations

import pytest

from builder.errors import InputError
from builder.registry.reference import parse_ref

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "name"),
    [
        ("debian", "docker.io", "library/debian", "latest", None, "debian"),
        (
            "nvidia/cuda:12.1.1-runtime",
            "docker.io",
            "nvidia/cuda",
            "12.1.1-runtime",
            None,
            "nvidia/cuda",
        ),
        ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000", "a/b", "1", None, "127.0.0.1:5000/a/b"),
        ("localhost/x", "localhost", "x", "latest", None, "localhost/x"),
        (f"ghcr.io/acme/w@{DIGEST}", "ghcr.io", "acme/w", None, DIGEST, "ghcr.io/acme/w"),
        (f"ghcr.io/acme/w:2@{DIGEST}", "ghcr.io", "acme/w", "2", DIGEST, "ghcr.io/acme/w"),
    ],
)
def test_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None, name: str
) -> None:
    ref = parse_ref(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.name == name
    assert str(parse_ref(str(ref))) == str(ref)


def test_docker_hub_api_host_and_reference() -> None:
    assert parse_ref("debian:12").api_host == "registry-1.docker.io"
    assert parse_ref("127.0.0.1:5000/a:1").api_host == "127.0.0.1:5000"
    assert parse_ref(f"a@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize("text", ["Upper/Case:1", "a:bad tag", "a@md5:00", "ghcr.io/"])
def test_invalid_references_say_what_is_expected(text: str) -> None:
    with pytest.raises(InputError):
        parse_ref(text)
