"""The lock file as builds see it: the --lock-file/--locked options and the FROM to use.

Shared by `rpbuild image` and `rpbuild matrix build`; `rpbuild lock` writes the file.
"""

from __future__ import annotations

from pathlib import Path

import click

from builder.build import compat
from builder.build.spec import ImageOptions
from builder.output import F
from builder.registry.client import DigestLookup
from builder.registry.lock import LOCK_FILE, check_base, read_lock
from builder.registry.publish import PublishOptions


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
