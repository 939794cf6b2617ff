"""`rpbuild data refresh`: rebuild the compatibility data from NVIDIA's and torch's sources."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from builder.build import driver_table
from builder.commands.base import Group
from builder.refresh import data as refresh_data


@click.group("data", cls=Group)
def data() -> None:
    """The compatibility data (images/cuda.yaml, torch.yaml, python.yaml)."""


@data.command("refresh")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the data is stale.")
@click.option(
    "--registry",
    default=refresh_data.Sources.registry,
    show_default=True,
    help="Registry holding the CUDA images.",
)
@click.option(
    "--repository",
    default=refresh_data.Sources.repository,
    show_default=True,
    help="Repository of the CUDA images in --registry.",
)
@click.option(
    "--torch-index",
    metavar="URL",
    help="torch wheel index URL with {index} [default: index_url in torch.yaml].",
)
@click.option(
    "--deadsnakes",
    metavar="URL",
    help="deadsnakes Packages.gz URL with {codename} [default: deadsnakes_url in python.yaml].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The data directory to refresh [default: rpbuild's own images/].",
)
@click.option(
    "--runtime-table",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The GPU check's driver table to regenerate [default: rpbuild's rpworker/].",
)
def refresh(
    check: bool,
    registry: str,
    repository: str,
    torch_index: str | None,
    deadsnakes: str | None,
    data_dir: Path | None,
    runtime_table: Path | None,
) -> None:
    """Read the live sources, print the diff against the data, and write it (unless --check).

    Comments, hand-kept tables and each record's `note` stay; what needs a hand edit
    (a new release's driver, a new Ubuntu release) is printed after the diff.
    """
    directory = data_dir or Path(str(resources.files("builder.images")))
    table = runtime_table or driver_table.runtime_path()
    sources = refresh_data.Sources(registry, repository, torch_index, deadsnakes)
    refreshed = refresh_data.refresh(directory, sources)
    changes = refresh_data.diff(directory, refreshed, table)
    if changes:
        click.echo(changes, nl=False)
    for note in refreshed.notes:
        click.echo(f"note: {note}", err=True)
    if not changes:
        click.echo(f"{directory}: the data matches its sources", err=True)
        return
    if check:
        raise click.ClickException(
            "the data is stale (diff above): run `rpbuild data refresh` and review the diff"
        )
    refresh_data.write(directory, refreshed, table)
    click.echo(f"wrote {directory} and {table}", err=True)
