"""Build contexts: only what each image needs, in a fresh directory.

A small context keeps BuildKit's transfer and cache keys to exactly the inputs: the
base context holds the runtime wheel and its requirements; the app context holds the
handler directory (under ``app/``) and its requirements file apart, so the requirements
layer is keyed on that file alone.
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# Never part of an app image: VCS data, caches, local virtual environments. A
# .dockerignore in the handler directory excludes more (glob patterns relative to it).
APP_IGNORE = (".git", "__pycache__", "*.pyc", ".venv", "venv", ".mypy_cache", ".pytest_cache")


@dataclass(frozen=True)
class AppSource:
    """A user's handler directory as the app image will hold it."""

    directory: Path
    handler_file: str
    requirements: Path | None


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
    """Patterns of DIR/.dockerignore (comments, blank lines and ``!`` exceptions dropped)."""
    path = directory / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line.strip("/") for line in lines if line and not line.startswith(("#", "!"))]


def _ignore(directory: Path) -> Callable[[str, list[str]], set[str]]:
    """A copytree filter: APP_IGNORE by name, .dockerignore by path relative to DIR."""
    patterns = dockerignore_patterns(directory)

    def ignored(folder: str, names: list[str]) -> set[str]:
        base = Path(folder).relative_to(directory)
        skip = set(shutil.ignore_patterns(*APP_IGNORE)(folder, names))
        for name in names:
            relative = (base / name).as_posix()
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
                skip.add(name)
        return skip

    return ignored


def app_context(root: Path, source: AppSource, dockerfile: str) -> Path:
    """Copy the handler directory (minus ignored files) and its requirements apart."""
    shutil.copytree(source.directory, root / "app", ignore=_ignore(source.directory))
    if source.requirements is not None:
        shutil.copy2(source.requirements, root / "requirements.txt")
    (root / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return root
