"""Pinned bases: the lock file maps every FROM reference to the digest it had when locked.

Tags such as nvidia/cuda:12.1.1-... move (rebuilds) or vanish (end of life); a build from
the lock file uses `name:tag@sha256:...`, so it is reproducible, and says when the
registry now serves something else for the tag.

Format of `rpbuild.lock` (JSON, sorted, meant to be committed):

    {"version": 1, "bases": {"nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04": "sha256:..."}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import InputError, RpbuildError, Source
from builder.registry.client import DigestLookup, RegistryError
from builder.registry.reference import parse_ref

LOCK_FILE = "rpbuild.lock"
FORMAT_VERSION = 1


class LockFileError(RpbuildError):
    """The lock file is malformed."""


class UnlockedBaseError(InputError):
    """Under --locked: no lock file, or none that pins the base (exit 2, like any input
    that does not fit: `rpbuild lock` with the same options makes it fit)."""

    def __init__(self, ref: str, path: Path, lock: LockFile | None) -> None:
        found = f"there is no lock file {path}" if lock is None else f"{path} does not pin {ref}"
        super().__init__(
            f"{found}: run `rpbuild lock` with the same options first (or drop --locked)",
            Source("--locked"),
        )


class BaseMovedError(RpbuildError):
    """Under --locked: the registry serves another digest for a locked base tag."""


@dataclass
class LockFile:
    bases: dict[str, str] = field(default_factory=dict)

    def pin(self, ref: str) -> str:
        """`ref` with its locked digest appended; unchanged when not locked or already pinned."""
        digest = self.bases.get(ref)
        return f"{ref}@{digest}" if digest and "@" not in ref else ref

    def to_text(self) -> str:
        data = {"version": FORMAT_VERSION, "bases": dict(sorted(self.bases.items()))}
        return json.dumps(data, indent=2) + "\n"


def read_lock(path: Path) -> LockFile | None:
    """The lock file at `path`, or None when there is none."""
    if not path.is_file():
        return None
    fix = "fix it, or delete it and run `rpbuild lock` to write a new one"
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise LockFileError(f"{path} is not valid JSON ({exc}): {fix}") from exc
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise LockFileError(f'{path}: expected "version": {FORMAT_VERSION}: {fix}')
    bases = data.get("bases")
    if not isinstance(bases, dict) or not all(
        isinstance(v, str) and v.startswith("sha256:") for v in bases.values()
    ):
        raise LockFileError(f'{path}: "bases" must map references to sha256 digests: {fix}')
    return LockFile(dict(bases))


def write_lock(path: Path, lock: LockFile) -> None:
    path.write_text(lock.to_text())


def lock_bases(
    refs: Iterable[str], lock: LockFile | None = None, lookup: DigestLookup | None = None
) -> LockFile:
    """Resolve every reference to its current digest, updating (a copy of) `lock`."""
    lookup = lookup or DigestLookup()
    bases = dict(lock.bases) if lock else {}
    for ref in refs:
        parsed = parse_ref(ref)
        if parsed.digest:
            continue  # already pinned in the reference itself
        bases[ref] = lookup(parsed)
    return LockFile(bases)


@dataclass(frozen=True)
class BaseCheck:
    """What a build learns about its base from the lock file: the FROM to use and notes."""

    from_ref: str
    warnings: tuple[str, ...] = ()


def require_pinned(ref: str, lock: LockFile | None, path: Path) -> None:
    """--locked: refuse a base the lock file at ``path`` does not pin, before any build
    (a reference with a digest needs no lock)."""
    if "@" not in ref and (lock is None or ref not in lock.bases):
        raise UnlockedBaseError(ref, path, lock)


def check_base(
    ref: str,
    lock: LockFile | None,
    *,
    locked: bool = False,
    lookup: DigestLookup | None = None,
) -> BaseCheck:
    """Pin `ref` from the lock file and compare with the registry's current digest.

    Without a lock entry the reference is used as is (see :func:`require_pinned` for
    `locked`). A tag that moved is a warning, or BaseMovedError with `locked`; a
    registry that cannot be asked is a warning, since the pinned digest still builds.
    """
    if "@" in ref or lock is None or ref not in lock.bases:
        return BaseCheck(ref)
    pinned = lock.pin(ref)
    try:
        current = (lookup or DigestLookup())(parse_ref(ref))
    except RegistryError as exc:
        return BaseCheck(pinned, (f"could not check whether {ref} moved: {exc}",))
    if current == lock.bases[ref]:
        return BaseCheck(pinned)
    moved = (
        f"the base {ref} moved: the lock file has {lock.bases[ref]}, "
        f"the registry now serves {current}"
    )
    if locked:
        raise BaseMovedError(f"{moved}. Run `rpbuild lock` to accept the new base")
    return BaseCheck(pinned, (f"{moved}. Building from the locked digest",))
