"""The tag scheme: every axis of an image in its tag, plus the rpbuild version.

    cuda<cuda>-cudnn<cudnn>-<flavor>-ubuntu<ubuntu>-py<python>-torch<torch>-rpbuild<version>

e.g. ``cuda12.1.1-cudnn8-runtime-ubuntu22.04-py3.10-torch2.3.1-cu121-rpbuild0.1.0``
(``torchnone`` without torch). Base images go to BASE_REPOSITORY (or ``--repository``
when no handler is given); app images to ``--repository`` or the handler directory's name.
"""

from __future__ import annotations

import re

from builder import __version__
from builder.build.spec import BaseSpec

BASE_REPOSITORY = "rpbuild/base"
_NOT_ALLOWED = re.compile(r"[^a-z0-9._-]+")


def axes(spec: BaseSpec, version: str = __version__) -> str:
    torch = f"torch{spec.torch.version}-{spec.torch.index}" if spec.torch else "torchnone"
    return (
        f"cuda{spec.cuda.version}-cudnn{spec.cudnn}-{spec.flavor}"
        f"-ubuntu{spec.ubuntu}-py{spec.python}-{torch}-rpbuild{version}"
    )


def repository_name(name: str) -> str:
    """A directory name as a valid repository component (lowercase, no odd characters)."""
    cleaned = _NOT_ALLOWED.sub("-", name.lower()).strip("-._")
    return cleaned or "app"


def base_tag(spec: BaseSpec, repository: str | None = None) -> str:
    return f"{repository or BASE_REPOSITORY}:{axes(spec)}"


def app_tag(spec: BaseSpec, repository: str) -> str:
    return f"{repository}:{axes(spec)}"
