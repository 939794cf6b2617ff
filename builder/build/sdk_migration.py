"""A RunPod worker's handler directory, as rpbuild installs it.

Public workers pin the SDK (``runpod``) in requirements.txt: about 100
distributions and 170 MB that rpworker's own ``runpod`` package replaces.
They are dropped unless rpbuild.yaml says ``runpod_sdk: keep``; and the S3
client extra of rpworker is added when the code uses the upload helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from builder.textfile import read_text

SDK = "runpod"
KEEP = "keep"
UPLOAD_NAMES = re.compile(
    r"\b(rp_upload|upload_file_to_bucket|upload_in_memory_object|upload_image|bucket_upload)\b"
)
SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules"})
S3_FALLBACK = "boto3"


@dataclass(frozen=True)
class Requirements:
    """The requirements file the app image installs (None: nothing), and what to tell the user."""

    text: str | None
    notes: tuple[str, ...] = ()


def _name(line: str) -> str | None:
    """The normalised distribution name a requirements line installs, if any."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
    return re.sub(r"[-_.]+", "-", found.group(1)).lower() if found else None


def uses_uploads(directory: Path) -> bool:
    for path in directory.rglob("*.py"):
        if SKIPPED_DIRS.isdisjoint(path.relative_to(directory).parts[:-1]) and (
            UPLOAD_NAMES.search(path.read_text(encoding="utf-8", errors="replace"))
        ):
            return True
    return False


def s3_extra() -> list[str]:
    """The requirements of rpworker's ``s3`` extra, from the installed rpbuild."""
    try:
        requires = metadata.requires("rpbuild") or []
    except metadata.PackageNotFoundError:
        return [S3_FALLBACK]
    found = [r.split(";")[0].strip() for r in requires if re.search(r"extra\s*==\s*.s3.", r)]
    return found or [S3_FALLBACK]


def app_requirements(
    directory: Path, requirements: Path | None, runpod_sdk: str | None
) -> Requirements:
    """What the app image installs from ``requirements`` for the handler in ``directory``."""
    lines = read_text(requirements).splitlines() if requirements else []
    notes: list[str] = []
    if runpod_sdk != KEEP:
        kept = [line for line in lines if _name(line) != SDK]
        if len(kept) != len(lines):
            notes.append(
                "requirements pin the runpod SDK: not installed, rpworker provides its "
                "worker-side `runpod` (set `runpod_sdk: keep` in rpbuild.yaml to install it)"
            )
        lines = kept
    if uses_uploads(directory):
        extra = s3_extra()
        lines = [*lines, *extra]
        notes.append(f"the handler uploads files: adding rpworker's S3 client ({', '.join(extra)})")
    if requirements is None and not lines:
        return Requirements(None, tuple(notes))
    return Requirements("\n".join(lines) + "\n", tuple(notes))
