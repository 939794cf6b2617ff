"""`rpbuild init [DIR]`: a worker project that `rpbuild image` builds with no flags."""

from __future__ import annotations

import re
from pathlib import Path

import click

from builder.build import config
from builder.commands.base import Command, json_option, pass_output
from builder.dev import scaffold
from builder.output import Output
from builder.values import shown

DEFAULT_CUDA = "12.1"
DEFAULT_PYTHON = "3.11"


def project_name(directory: Path) -> str:
    """A valid image repository name from the directory's name."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")
    return name or "worker"


def _non_empty_directory(_ctx: click.Context, param: click.Parameter, value: str) -> Path:
    """An empty DIRECTORY is a mistake (an unset variable), not the current directory."""
    if not value:
        raise click.BadParameter("is empty: name a directory, or . for this one", param=param)
    return Path(value)


@click.command("init", cls=Command)
@click.argument(
    "directory", default=".", type=click.Path(file_okay=False), callback=_non_empty_directory
)
@click.option(
    "--repository",
    metavar="REPO",
    help="Image repository the tags are made from, e.g. ghcr.io/you/worker "
    "[default: the directory's name].",
)
@click.option("--cuda", default=DEFAULT_CUDA, show_default=True, help="CUDA release.")
@click.option("--python", default=DEFAULT_PYTHON, show_default=True, help="Python version.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@json_option
@pass_output
def init(
    out: Output,
    directory: Path,
    repository: str | None,
    cuda: str,
    python: str,
    force: bool,
) -> None:
    """Create a worker project in DIRECTORY: handler.py, test_input.json,
    requirements.txt and rpbuild.yaml."""
    name = project_name(directory)
    project = scaffold.Project(name=name, repository=repository or name, cuda=cuda, python=python)
    issues = config.validate({"repository": project.repository, "cuda": cuda, "python": python})
    if issues:
        raise click.UsageError(
            "\n".join(
                f"--{i.key} {shown(i.value)}: {i.message}; allowed: {i.allowed}" for i in issues
            )
        )
    paths = scaffold.write(directory, project, force=force)
    out.result(
        {"directory": str(directory), "files": [str(path) for path in paths]},
        "\n".join(f"created {path}" for path in paths) + f"\nnext: cd {directory} && rpbuild serve",
    )
