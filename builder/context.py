"""Build contexts: only what each image needs, in a fresh directory.

A small context keeps BuildKit's transfer and cache keys to exactly the inputs: the
base context holds the runtime wheel and its requirements; the app context holds the
handler directory (under ``app/``) and its requirements file apart, so the requirements
layer is keyed on that file alone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# Never part of an app image: VCS data, caches, local virtual environments.
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


def app_context(root: Path, source: AppSource, dockerfile: str) -> Path:
    shutil.copytree(source.directory, root / "app", ignore=shutil.ignore_patterns(*APP_IGNORE))
    if source.requirements is not None:
        shutil.copy2(source.requirements, root / "requirements.txt")
    (root / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return root
