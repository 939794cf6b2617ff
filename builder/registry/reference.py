"""Image references (`[registry/]repository[:tag][@digest]`), parsed the way Docker does.

The registry client, push, lock and publish all need the same split into registry host,
repository path and tag, including Docker Hub's implicit `docker.io` and `library/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.errors import BadReferenceError
from builder.values import shown

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Docker's domain grammar: DNS labels (or a bracketed IPv6 address) and an optional port.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_REGISTRY = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?", re.ASCII)


@dataclass(frozen=True)
class ImageRef:
    """A fully qualified reference: `registry` is a host[:port], `repository` a path."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """registry/repository, without the implicit parts Docker hides for Docker Hub."""
        if self.registry != DOCKER_HUB:
            return f"{self.registry}/{self.repository}"
        return self.repository.removeprefix("library/")

    @property
    def reference(self) -> str:
        """What the registry API calls the reference: the digest if any, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """The host that serves the HTTP API v2 (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_ref(text: str) -> ImageRef:
    """Parse a reference; a missing tag means `latest` unless a digest is given."""
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise BadReferenceError(text, "the digest must look like sha256:<64 hex digits>")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
        if not _REGISTRY.fullmatch(registry):
            raise BadReferenceError(
                text,
                f"invalid registry host {shown(registry)}: use a host name or address with an "
                "optional :port, e.g. ghcr.io or 127.0.0.1:5000",
            )
    else:
        registry, path = DOCKER_HUB, rest
    tag: str | None = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise BadReferenceError(
                text,
                f"invalid tag {shown(tag)}: a tag is 1 to 128 letters, digits, _, . and -, "
                "not starting with . or -",
            )
    _check_path(text, path)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if tag is None and not digest:
        tag = "latest"
    return ImageRef(registry, path, tag, digest or None)


def _check_path(text: str, path: str) -> None:
    """The repository path: lower-case components, as Docker's reference grammar says."""
    if not path:
        raise BadReferenceError(text, "no repository name: use [registry/]name[:tag]")
    for part in path.split("/"):
        if _COMPONENT.fullmatch(part):
            continue
        if _COMPONENT.fullmatch(part.lower()):
            raise BadReferenceError(
                text,
                f"{shown(part)} has upper case letters: repository names are lower case in "
                "Docker's reference grammar (only the tag may mix case): "
                f"write it {shown(part.lower())}",
            )
        raise BadReferenceError(
            text,
            f"{shown(part)} is not a repository name component: use lower-case letters and "
            "digits, joined by ., _, __ or -, e.g. ghcr.io/acme/worker:1.0",
        )
