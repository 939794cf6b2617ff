"""`rpbuild matrix list|bake|build|github`: the published images, from images/matrix.yaml."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

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
from builder.commands.base import F, Group, json_option, pass_output
from builder.commands.options import (
    delivery_options,
    existing_file,
    given_flags,
    matrix_file_option,
)
from builder.output import Output
from builder.pipeline import Delivery, build_rows
from builder.registry.lock import LOCK_FILE, read_lock


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


@click.group("matrix", cls=Group)
def matrix() -> None:
    """The GPU base images the project publishes (images/matrix.yaml)."""


@matrix.command("list")
@selection_options
@json_option
@pass_output
def list_rows(out: Output, selected: Selected) -> None:
    """A table of the matrix rows and their tags."""
    the_matrix, rows = selected
    records = describe(the_matrix, rows, the_matrix.registry)
    out.result(records, table(records))


@matrix.command("github")
@selection_options
@pass_output
def github(out: Output, selected: Selected) -> None:
    """One-line JSON for a GitHub Actions `strategy.matrix` (one job per row)."""
    out.line(json.dumps(github_matrix(selected[1])))


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
@pass_output
def bake(output: Output, selected: Selected, out: Path, lock_file: Path) -> None:
    """Write a docker buildx bake file: a target per row, groups default and all.

    Build with `docker buildx bake -f OUT/docker-bake.json [--push] [TARGET...]`;
    override the REGISTRY and TAG_PREFIX variables from the environment.
    """
    the_matrix, rows = selected
    path = write_bake(the_matrix, rows, out, read_lock(lock_file))
    output.result(
        {"bake_file": str(path), "targets": [r.name for r in rows]},
        f"wrote {path} ({len(rows)} targets); build: docker buildx bake -f {path}",
    )


@matrix.command("build")
@selection_options
@click.option("--base-image", metavar="REF", help="Build every row FROM this instead.")
@click.option(
    "--ca-bundle",
    type=existing_file,
    help="Extra CA bundle apt and pip trust (as for `rpbuild image`).",
)
@click.option("--verify/--no-verify", default=True, help="Check each image against its tag.")
@delivery_options
@json_option
@pass_output
def build(out: Output, selected: Selected, delivery: Delivery, **_flags: Any) -> None:
    """Build the selected rows (through `rpbuild image`'s build), and push them with --push.

    --metadata-file gets a JSON list: one publish result per row. The lock file
    defaults to ./rpbuild.lock.
    """
    the_matrix, rows = selected
    flags = given_flags(click.get_current_context())
    results = build_rows(the_matrix, rows, flags, delivery, out)
    if out.json:
        out.result(results)
