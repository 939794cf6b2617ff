"""The lock file as builds see it: which FROM to build, after asking the registry.

Shared by `rpbuild image` and `rpbuild matrix build`; `rpbuild lock` writes the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from builder.build.spec import BaseSpec
from builder.registry.client import DigestLookup
from builder.registry.lock import LOCK_FILE, LockFile, check_base, read_lock, require_pinned


@dataclass(frozen=True)
class Pinning:
    """``lock_file`` (default: DIR/rpbuild.lock, used when present) and ``locked``
    (fail when a base is missing from it or its tag moved)."""

    lock_file: Path | None = None
    locked: bool = False


def pinned_spec(spec: BaseSpec, directory: Path, pinning: Pinning) -> BaseSpec:
    """``spec`` FROM the locked digest when the lock file has its base, without asking
    the registry (dry runs)."""
    current = _read(spec, directory, pinning)
    return replace(spec, from_ref=current.pin(spec.from_ref)) if current else spec


def _read(spec: BaseSpec, directory: Path, pinning: Pinning) -> LockFile | None:
    """The lock file; with ``locked``, refused unless it pins the base."""
    path = pinning.lock_file or directory / LOCK_FILE
    current = read_lock(path)
    if pinning.locked:
        require_pinned(spec.from_ref, current, path)
    return current


def checked_spec(
    spec: BaseSpec,
    directory: Path,
    pinning: Pinning,
    lookup: DigestLookup,
    warn: Callable[[str], None],
) -> BaseSpec:
    """``spec`` FROM the locked digest, after asking the registry whether the tag moved:
    a warning, or an error with ``locked`` (as is a base missing from the lock file)."""
    current = _read(spec, directory, pinning)
    if current is None:
        return spec
    result = check_base(spec.from_ref, current, locked=pinning.locked, lookup=lookup)
    for warning in result.warnings:
        warn(warning)
    return replace(spec, from_ref=result.from_ref)
