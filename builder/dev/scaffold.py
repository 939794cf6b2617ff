"""The files of a new worker project, rendered from templates/init/.

Every file is checked before any is written, so a refused ``init`` leaves the
directory as it was.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

from builder.errors import InputError, Source

FILES = ("handler.py", "test_input.json", "requirements.txt", "rpbuild.yaml")


@dataclass(frozen=True)
class Project:
    name: str
    repository: str
    cuda: str
    python: str


class ExistingFilesError(InputError):
    """DIRECTORY already holds project files: bad input (exit 2), --force overwrites."""

    def __init__(self, paths: list[Path]) -> None:
        names = ", ".join(str(path) for path in paths)
        super().__init__(
            f"{names} already exist(s); pass --force to overwrite, or choose another DIRECTORY",
            Source("DIRECTORY"),
        )


class ProjectDirectoryError(InputError):
    """DIRECTORY cannot be made or written: under a file, on a read-only or virtual file system."""

    def __init__(self, directory: Path, error: OSError) -> None:
        self.directory = directory
        super().__init__(
            f"cannot create the project in {directory}: {error.strerror or error}; "
            "choose a directory you can write to",
            Source("DIRECTORY"),
        )


def _environment() -> jinja2.Environment:
    templates = importlib.resources.files("builder.templates").joinpath("init")
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: templates.joinpath(name).read_text("utf-8")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(project: Project) -> dict[str, str]:
    """File name → content."""
    env = _environment()
    return {name: env.get_template(f"{name}.j2").render(asdict(project)) for name in FILES}


def write(directory: Path, project: Project, *, force: bool = False) -> list[Path]:
    """Write the project's files into ``directory``; the paths written."""
    paths = [directory / name for name in FILES]
    existing = [path for path in paths if path.exists()]
    if existing and not force:
        raise ExistingFilesError(existing)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in render(project).items():
            (directory / name).write_text(content, encoding="utf-8")
    except OSError as error:
        raise ProjectDirectoryError(directory, error) from error
    return paths
