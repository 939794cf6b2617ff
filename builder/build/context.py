"""Build contexts: only what each image needs, in a fresh directory.

A small context keeps BuildKit's transfer and cache keys to exactly the inputs: the
base context holds the runtime wheel and its requirements; the app context holds the
project directory (under ``app/``) and its requirements file apart, so the requirements
layer is keyed on that file alone.

What of the project goes in follows Docker's rules: its ``.dockerignore``, matched by
the docker SDK's port of the engine's matcher, and symlinks copied as links, never
followed. On top, rpbuild leaves out caches and VCS data (:data:`DEFAULT_IGNORE`) and
files that are credentials by name or content, unless rpbuild.yaml's ``include:``
lists them: a layer keeps whatever it was given, in every registry it is pushed to.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from docker.utils import build as docker_build
from docker.utils.fnmatch import fnmatchcase

from builder.build.sdk_migration import Requirements
from builder.errors import InputError
from builder.textfile import read_text

# Never part of an app image: VCS data, caches, local virtual environments. They come
# before the project's .dockerignore, so a `!` line there can bring one back.
DEFAULT_IGNORE = (
    "**/.git",
    "**/__pycache__",
    "**/*.pyc",
    "**/.venv",
    "**/venv",
    "**/.mypy_cache",
    "**/.pytest_cache",
)
# Credentials by name: a directory listed here is left out with everything in it.
CREDENTIAL_NAMES = (
    "**/.env*",
    "**/.aws",
    "**/.ssh",
    "**/.gnupg",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/id_rsa",
    "**/id_dsa",
    "**/id_ecdsa",
    "**/id_ed25519",
    "**/.npmrc",
    "**/.pypirc",
    "**/.netrc",
    "**/_netrc",
    "**/.git-credentials",
)
# Credentials by content: a private key in any format (PEM, OpenSSH, PGP), also
# inside another file such as a cloud service-account JSON. Keys are small.
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_SCANNED_BYTES = 1 << 20


class ContextError(InputError):
    """The project cannot become a build context as it is (a symlink loop); exit 2,
    before anything is built."""


class _Pattern(docker_build.Pattern):  # type: ignore[misc]
    """The SDK's pattern, matched case-sensitively as the engine does on Linux."""

    def match(self, filepath: str) -> bool:
        return bool(fnmatchcase(filepath, self.cleaned_pattern))


class _Matcher(docker_build.PatternMatcher):  # type: ignore[misc]
    """The SDK's matcher and walk, with the engine's case-sensitive patterns and no
    forced ``!.dockerignore`` (the engine leaves out a .dockerignore that lists itself)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [pattern for pattern in map(_Pattern, patterns) if pattern.dirs]

    def matches_here_or_above(self, path: str) -> bool:
        parts = path.split("/")
        return any(self.matches("/".join(parts[: i + 1])) for i in range(len(parts)))


@dataclass(frozen=True)
class AppSource:
    """A user's handler directory as the app image will hold it."""

    directory: Path
    handler_file: str
    requirements: Path | None
    include: tuple[str, ...] = ()
    install: Requirements | None = None
    """The requirements as installed (the SDK dropped, the S3 extra added); None: as given."""

    def requirements_text(self) -> str | None:
        if self.install is not None:
            return self.install.text
        return None if self.requirements is None else read_text(self.requirements)


def runtime_requirements() -> str:
    return resources.files("rpworker").joinpath("requirements.txt").read_text(encoding="utf-8")


def base_context(root: Path, wheel: Path, dockerfile: str, wheel_name: str) -> Path:
    """``wheel_name`` is the name the Dockerfile installs, whatever the source file's name."""
    runtime = root / "runtime"
    runtime.mkdir(parents=True)
    shutil.copy2(wheel, runtime / wheel_name)
    (runtime / "requirements.txt").write_text(runtime_requirements(), encoding="utf-8")
    (root / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return root


def dockerignore_patterns(directory: Path) -> list[str]:
    """Lines of DIR/.dockerignore as the engine reads them: stripped, no blanks or comments."""
    path = directory / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in read_text(path, encoding="utf-8-sig").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class Selection:
    """What of a project goes into the image: kept paths (files, directories, links,
    parents first) and the credentials left out, relative to the project."""

    kept: tuple[str, ...]
    left_out: tuple[str, ...]


def _is_private_key(path: Path) -> bool:
    if path.is_symlink() or not path.is_file() or path.stat().st_size > _SCANNED_BYTES:
        return False
    return _PRIVATE_KEY.search(path.read_bytes()) is not None


def _refuse_loop(link: Path, relative: str) -> None:
    """A link that resolves into itself or an ancestor: Docker copies it as a link, but
    anything following links (a copy, a walk in the handler) goes round forever."""
    fix = f"remove it, or list {relative} in .dockerignore"
    try:
        target = Path(os.path.realpath(link, strict=True))
    except OSError as error:
        if error.errno != errno.ELOOP:
            return  # dangling: kept as a link, as Docker does
        raise ContextError(f"{link} is a symlink loop: {fix}") from error
    parent = Path(os.path.realpath(link.parent))
    if target == parent or target in parent.parents:
        raise ContextError(
            f"{link} links to {os.readlink(link)}, a directory that contains it: {fix}"
        )


def select(directory: Path, include: Sequence[str] = ()) -> Selection:
    """Walk DIR as the engine would send it, minus credentials not in ``include``."""
    ignored = _Matcher([*DEFAULT_IGNORE, *dockerignore_patterns(directory)])
    credentials, included = _Matcher(CREDENTIAL_NAMES), _Matcher(include)
    kept, left_out = [], []
    for relative in sorted(ignored.walk(str(directory))):
        path = directory / relative
        if not included.matches_here_or_above(relative) and (
            credentials.matches_here_or_above(relative) or _is_private_key(path)
        ):
            if path.is_symlink() or not path.is_dir():
                left_out.append(relative)
            continue
        if path.is_symlink():
            _refuse_loop(path, relative)
        kept.append(relative)
    return Selection(tuple(kept), tuple(left_out))


def _copy(source: Path, target: Path, kept: Sequence[str]) -> None:
    """Kept paths only; links as links, directories with their mode."""
    target.mkdir(parents=True)
    for relative in kept:
        src, dst = source / relative, target / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_dir():
            dst.mkdir(exist_ok=True)
            shutil.copymode(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)


def app_context(root: Path, source: AppSource, dockerfile: str) -> Selection:
    """Copy the selected project files, and its requirements file apart."""
    selection = select(source.directory, source.include)
    _copy(source.directory, root / "app", selection.kept)
    text = source.requirements_text()
    if text is not None:
        target = root / "requirements.txt"
        target.write_text(text, encoding="utf-8")
        # The file's time is part of the layer: keep the source's, so the layer stays cached.
        stamp = source.requirements.stat().st_mtime if source.requirements else 0
        os.utime(target, (stamp, stamp))
    (root / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return selection
