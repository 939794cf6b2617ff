"""`rpbuild lock`: pin every FROM (of the matrix, or of `rpbuild image`'s base) to a digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from builder.build.matrix import load_matrix
from builder.build.options import load_project, resolve_options, resolve_spec
from builder.commands.base import Command, json_option, pass_output
from builder.commands.options import (
    base_image_option,
    base_options,
    given_flags,
    login_options,
    matrix_file_option,
)
from builder.output import Output
from builder.pipeline import lock as lock_refs
from builder.pipeline import moved_bases
from builder.registry.client import DigestLookup
from builder.registry.lock import LOCK_FILE
from builder.registry.publish import PublishOptions


@click.command("lock", cls=Command)
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@base_options
@base_image_option
@click.option(
    "--matrix",
    "use_matrix",
    is_flag=True,
    help="Lock the bases of every matrix row (implied by --matrix-file).",
)
@matrix_file_option
@click.option(
    "--lock-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Where to write [default: DIR/{LOCK_FILE}].",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a locked base has moved.")
@login_options
@json_option
@pass_output
def lock(
    out: Output,
    directory: Path,
    use_matrix: bool,
    matrix_file: Path | None,
    lock_file: Path | None,
    check: bool,
    publish_options: PublishOptions,
    **_flags: Any,
) -> None:
    """Resolve every base (FROM) to its current digest and write the lock file.

    The base is `rpbuild image DIR`'s, with the same flags over DIR's rpbuild.yaml.
    Builds then use name:tag@sha256:... and say when the registry's tag has moved.
    """
    path = lock_file or directory / LOCK_FILE
    lookup = DigestLookup(publish_options.credentials)
    if check:
        _check(out, path, lookup)
        return
    if use_matrix or matrix_file is not None:
        refs = sorted({row.spec.from_ref for row in load_matrix(matrix_file).rows})
    else:
        flags = given_flags(click.get_current_context())
        resolved = resolve_options(directory, flags, load_project(directory))
        # A --base-image is locked as given: its Python, which a build must be told,
        # plays no part in its digest.
        refs = [resolved.options.base_image or resolve_spec(resolved).from_ref]
    updated = lock_refs(refs, path, lookup)
    text = "\n".join([*(f"locked {ref}@{updated.bases[ref]}" for ref in refs), f"wrote {path}"])
    out.result({"lock_file": str(path), "bases": updated.bases}, text)


def _check(out: Output, path: Path, lookup: DigestLookup) -> None:
    moved = moved_bases(path, lookup)
    for ref, digests in moved.items():
        out.warn(f"moved: {ref} locked {digests['locked']}, now {digests['now']}")
    if out.json or not moved:
        out.result(
            {"lock_file": str(path), "moved": moved},
            f"{path}: every base still serves its locked digest",
        )
    if moved:  # not an RpbuildError: the JSON result above is the whole --json output
        raise click.ClickException(
            f"{len(moved)} base(s) in {path} moved: run `rpbuild lock` to accept them"
        )
