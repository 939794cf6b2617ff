"""The tag scheme: every axis of an image in its tag, plus the rpbuild version.

    cuda<cuda>-cudnn<cudnn>-<flavor>-ubuntu<ubuntu>-py<python>-torch<torch>-rpbuild<version>

e.g. ``cuda12.1.1-cudnn8-runtime-ubuntu22.04-py3.10-torch2.3.1-cu121-rpbuild0.1.0``
(``torchnone`` without torch). On a ``--base-image`` the nvidia/cuda axes (cuDNN,
flavor, Ubuntu) are unknown; a hash of the reference stands for them instead:

    custom-<sha256 of the reference, 12 hex>-cuda<cuda>-py<python>-torch<torch>-rpbuild<version>

so two bases never share a tag. Base images go to BASE_REPOSITORY (or ``--repository``
when no handler is given); app images to ``--repository`` or the handler directory's name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from builder import __version__
from builder.build import labels
from builder.build.spec import BaseSpec

BASE_REPOSITORY = "rpbuild/base"
DEFAULT_ARCH = "amd64"
_NOT_ALLOWED = re.compile(r"[^a-z0-9._-]+")


def axes(spec: BaseSpec, version: str = __version__) -> str:
    return axes_of({**labels.claims(spec), f"{labels.PREFIX}runtime-version": version})


def axes_of(claims: Mapping[str, str]) -> str:
    """The axes an image's claim labels (``io.rpbuild.*``) stand for: its tag, from them."""

    def claim(axis: str) -> str:
        return claims.get(labels.PREFIX + axis, "?")

    torch = "torch" + claim("torch").replace("+", "-")
    rest = f"-py{claim('python')}-{torch}-rpbuild{claim('runtime-version')}"
    custom = claims.get(labels.PREFIX + "base-image")
    if custom is not None:
        return f"custom-{base_id(custom)}-cuda{claim('cuda')}{rest}"
    return (
        f"cuda{claim('cuda')}-cudnn{claim('cudnn')}-{claim('flavor')}-ubuntu{claim('ubuntu')}{rest}"
    )


def base_id(reference: str) -> str:
    """A custom base's reference as 12 hex digits: distinct bases, distinct tags."""
    return hashlib.sha256(reference.encode()).hexdigest()[:12]


def repository_name(name: str) -> str:
    """A directory name as a valid repository component (lowercase, no odd characters)."""
    cleaned = _NOT_ALLOWED.sub("-", name.lower()).strip("-._")
    return cleaned or "app"


def base_tag(spec: BaseSpec, repository: str | None = None) -> str:
    return f"{repository or BASE_REPOSITORY}:{axes(spec)}"


def app_tag(spec: BaseSpec, repository: str) -> str:
    return f"{repository}:{axes(spec)}"


def platforms(text: str | None) -> tuple[str, ...]:
    """``linux/amd64,linux/arm64`` -> each platform; none named -> ()."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def arch(platform: str) -> str:
    """``linux/arm64/v8`` -> ``arm64``."""
    return platform.removeprefix("linux/").split("/")[0]


def arch_suffix(platform: str | None) -> str:
    """What default tags add for a platform, so an arm64 image never takes the amd64 tag.

    amd64, the engine's own platform (none named) and a list of several keep the plain tag.
    """
    if platform is None or len(platforms(platform)) > 1 or arch(platform) == DEFAULT_ARCH:
        return ""
    return f"-{arch(platform)}"


def for_platform(tag: str, platform: str) -> str:
    """The local tag of one platform's image in a multi-platform build."""
    return f"{tag}-{arch(platform)}"
