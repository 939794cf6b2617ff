"""`rpbuild lock`: pin every FROM to a digest; and the lock options builds share."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from builder import compat
from builder.cmd_publish import json_option, login_options
from builder.lock import (
    LOCK_FILE,
    DigestLookup,
    LockFile,
    check_base,
    lock_bases,
    read_lock,
    write_lock,
)
from builder.matrix import load_matrix
from builder.publish import PublishOptions
from builder.spec import ImageOptions

F = TypeVar("F", bound=Callable[..., Any])


def lock_options(command: F) -> F:
    """--lock-file and --locked, for every command that builds from a base."""
    command = click.option(
        "--locked",
        is_flag=True,
        help="Fail when a base is missing from the lock file or its tag moved.",
    )(command)
    return click.option(
        "--lock-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Lock file pinning the bases [default: DIR/{LOCK_FILE}, used when present].",
    )(command)


def pinned_base(
    options: ImageOptions,
    lock_file: Path | None,
    locked: bool,
    publish_options: PublishOptions,
    check: bool = True,
) -> str | None:
    """The FROM to build from the lock file (None: none applies), after checking the tag.

    A moved tag is a warning on stderr, or an error with `locked`; `check=False` (dry
    runs) pins without asking the registry.
    """
    path = lock_file or options.directory / LOCK_FILE
    current = read_lock(path)
    if current is None and not locked:
        return None
    ref = options.base_image or compat.resolve(options).from_ref
    if not check:
        return current.pin(ref) if current else None
    lookup = DigestLookup(publish_options.credentials)
    result = check_base(ref, current, locked=locked, lookup=lookup)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return result.from_ref


@click.command("lock")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cuda", metavar="VERSION", help="Lock the nvidia/cuda base for this CUDA.")
@click.option("--python", metavar="X.Y", help="As for `rpbuild image`.")
@click.option("--torch", metavar="VERSION", help="As for `rpbuild image`.")
@click.option("--ubuntu", metavar="YY.MM", help="As for `rpbuild image`.")
@click.option("--flavor", type=click.Choice(["runtime", "devel"]), help="CUDA image flavor.")
@click.option("--base-image", metavar="REF", help="Lock this base instead of nvidia/cuda.")
@click.option("--matrix", "use_matrix", is_flag=True, help="Lock the bases of every matrix row.")
@click.option(
    "--matrix-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Matrix file [default: the one rpbuild ships]; implies --matrix.",
)
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
