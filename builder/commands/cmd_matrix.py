"""`rpbuild matrix list|bake|build|github`: the published images, from images/matrix.yaml."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from builder.build import image as image_lib
from builder.build.bake import write_bake
from builder.build.matrix import (
    FILTER_KEYS,
    Matrix,
    MatrixRow,
    describe,
    github_matrix,
    load_matrix,
    parse_filters,
    select,
    table,
)
from builder.commands.cmd_push import (
    json_option,
    login_options,
    metadata_file_option,
    publish_built,
    push_option,
)
from builder.output import F
from builder.registry.lock import LOCK_FILE, read_lock
from builder.registry.pinning import lock_options, pinned_base
from builder.registry.publish import PublishOptions, write_metadata

matrix_file_option = click.option(
    "--matrix-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Matrix file [default: the one rpbuild ships, images/matrix.yaml].",
)


def selection_options(command: F) -> F:
    """--matrix-file, --filter and --registry, folded into `selected` (matrix, rows)."""

    @matrix_file_option
    @click.option(
        "--filter",
        "filters",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Only rows matching (repeatable; KEY: {', '.join(FILTER_KEYS)}; cuda=12.1 "
        "matches 12.1.1; a key given twice matches either value).",
    )
    @click.option("--registry", help="Registry host for the tags [default: the matrix file's].")
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        matrix_file: Path | None,
        filters: tuple[str, ...],
        registry: str | None,
        **kwargs: Any,
    ) -> Any:
        matrix = load_matrix(matrix_file)
        if registry:
            matrix = replace(matrix, registry=registry)
        kwargs["selected"] = (matrix, select(matrix, parse_filters(filters)))
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


Selected = tuple[Matrix, list[MatrixRow]]


@click.group("matrix")
def matrix() -> None:
    """The GPU base images the project publishes (images/matrix.yaml)."""


@matrix.command("list")
@selection_options
@json_option
def list_rows(selected: Selected, as_json: bool) -> None:
    """A table of the matrix rows and their tags."""
    the_matrix, rows = selected
    records = describe(the_matrix, rows, the_matrix.registry)
    click.echo(json.dumps(records, indent=2) if as_json else table(records))


@matrix.command("github")
@selection_options
def github(selected: Selected) -> None:
    """One-line JSON for a GitHub Actions `strategy.matrix` (one job per row)."""
    click.echo(json.dumps(github_matrix(selected[1])))


@matrix.command("bake")
@selection_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bake"),
    show_default=True,
    help="Directory for docker-bake.json and one build context per row.",
)
@click.option(
    "--lock-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(LOCK_FILE),
    show_default=True,
    help="Pin the bases from this lock file when it exists.",
)
@json_option
def bake(selected: Selected, out: Path, lock_file: Path, as_json: bool) -> None:
    """Write a docker buildx bake file: a target per row, groups default and all.

    Build with `docker buildx bake -f OUT/docker-bake.json [--push] [TARGET...]`;
    override the REGISTRY and TAG_PREFIX variables from the environment.
    """
    the_matrix, rows = selected
    path = write_bake(the_matrix, rows, out, read_lock(lock_file))
    if as_json:
        click.echo(json.dumps({"bake_file": str(path), "targets": [r.name for r in rows]}))
    else:
        click.echo(f"wrote {path} ({len(rows)} targets); build: docker buildx bake -f {path}")


@matrix.command("build")
@selection_options
@click.option("--base-image", metavar="REF", help="Build every row FROM this instead.")
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra CA bundle apt and pip trust (as for `rpbuild image`).",
)
@click.option("--verify/--no-verify", default=True, help="Check each image against its tag.")
@push_option
@metadata_file_option
@login_options
@lock_options
@json_option
def build(
    selected: Selected,
    base_image: str | None,
    ca_bundle: Path | None,
    verify: bool,
    push: bool,
    metadata_file: Path | None,
    publish_options: PublishOptions,
    lock_file: Path | None,
    locked: bool,
    as_json: bool,
) -> None:
    """Build the selected rows (through `rpbuild image`'s build), and push them with --push.

    --metadata-file gets a JSON list: one publish result per row.
    """
    if metadata_file is not None and not push:
        raise click.UsageError("--metadata-file describes a push: add --push")
    the_matrix, rows = selected
    sink = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    results: list[dict[str, Any]] = []
    for row in rows:
        tags = row.tags(the_matrix.registry, the_matrix.repository)
        options = replace(
            row.options,
            directory=the_matrix.directory,
            tags=tuple(tags),
            base_image=base_image,
            ca_bundle=ca_bundle,
            verify=verify,
        )
        from_ref = pinned_base(options, lock_file or Path(LOCK_FILE), locked, publish_options)
        built = image_lib.build(options, sink, from_ref)
        published = publish_built(tags, push, None, publish_options, as_json)
        results.append({"name": row.name, **built.as_dict(), **published})
    if metadata_file is not None:
        write_metadata(metadata_file, [record["publish"] for record in results])
    if as_json:
        click.echo(json.dumps(results, indent=2))
