"""The reference SDK (PyPI ``runpod``) in its own venv, made by scripts/setup."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = ROOT / ".cache" / "venvs" / "runpod" / "bin" / "python"


def sdk_python() -> Path:
    if not SDK_PYTHON.is_file():
        pytest.fail(f"the reference SDK venv is missing ({SDK_PYTHON}): run scripts/setup")
    return SDK_PYTHON


def run_sdk_script(script: str) -> Any:
    """Run ``script`` with the SDK's Python in the repo root; its last stdout line as JSON."""
    done = subprocess.run(
        [str(sdk_python()), "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
