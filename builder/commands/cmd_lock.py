"""`rpbuild lock`: pin every FROM (of the matrix, or of `rpbuild image`'s base) to a digest."""

from __future__ import annotations

import json
from pathlib import Path

import click

from builder.build import compat
from builder.build.matrix import load_matrix
from builder.build.spec import ImageOptions
from builder.commands.cmd_image import BASE_CHOICES, image
from builder.commands.cmd_matrix import matrix_file_option
from builder.commands.cmd_push import json_option, login_options
from builder.registry.client import DigestLookup
from builder.registry.lock import LOCK_FILE, LockFile, lock_bases, read_lock, write_lock
from builder.registry.publish import PublishOptions


@click.command("lock")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
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
def lock(
    directory: Path,
    use_matrix: bool,
    matrix_file: Path | None,
    lock_file: Path | None,
    check: bool,
    publish_options: PublishOptions,
    as_json: bool,
    cuda: str | None,
    python: str | None,
    torch: str | None,
    ubuntu: str | None,
    flavor: str | None,
    base_image: str | None,
) -> None:
    """Resolve every base (FROM) to its current digest and write the lock file.

    Builds then use name:tag@sha256:... and say when the registry's tag has moved.
    """
    path = lock_file or directory / LOCK_FILE
    lookup = DigestLookup(publish_options.credentials)
    current = read_lock(path)
    if check:
        _check(path, current, lookup, as_json)
        return
    if use_matrix or matrix_file is not None:
        refs = sorted({row.spec.from_ref for row in load_matrix(matrix_file).rows})
    else:
        options = ImageOptions(
            directory=directory, cuda=cuda, python=python, torch=torch, ubuntu=ubuntu, flavor=flavor
        )
        refs = [base_image or compat.resolve(options).from_ref]
    updated = lock_bases(refs, current, lookup)
    write_lock(path, updated)
    if as_json:
        click.echo(json.dumps({"lock_file": str(path), "bases": updated.bases}, indent=2))
    else:
        for ref in refs:
            click.echo(f"locked {ref}@{updated.bases[ref]}")
        click.echo(f"wrote {path}")


def _check(path: Path, current: LockFile | None, lookup: DigestLookup, as_json: bool) -> None:
    if current is None:
        raise click.UsageError(f"--check: there is no lock file {path}; run `rpbuild lock`")
    now = lock_bases(current.bases, None, lookup).bases
    moved = {
        ref: {"locked": d, "now": now[ref]} for ref, d in current.bases.items() if now[ref] != d
    }
    if as_json:
        click.echo(json.dumps({"lock_file": str(path), "moved": moved}, indent=2))
    for ref, digests in moved.items():
        click.echo(f"moved: {ref} locked {digests['locked']}, now {digests['now']}", err=True)
    if moved:
        raise click.ClickException(
            f"{len(moved)} base(s) in {path} moved: run `rpbuild lock` to accept them"
        )
    if not as_json:
        click.echo(f"{path}: every base still serves its locked digest")


# The base choices take exactly the options of `rpbuild image` (one definition).
lock.params[1:1] = [param for param in image.params if param.name in BASE_CHOICES]
