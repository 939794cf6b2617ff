"""``runpod.serverless.utils.rp_cleanup``: remove a job's scratch files from the cwd."""

from __future__ import annotations

import shutil
from pathlib import Path

SCRATCH = ("input_objects", "output_objects", "job_files")


def clean(folder_list: list[str] | None = None) -> None:
    """Delete the SDK's scratch folders, ``output.zip`` and ``folder_list``, if present."""
    for folder in (*SCRATCH, *(folder_list or ())):
        shutil.rmtree(folder, ignore_errors=True)
    Path("output.zip").unlink(missing_ok=True)
