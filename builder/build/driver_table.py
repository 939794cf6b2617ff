"""The GPU check's driver table, generated from images/cuda.yaml into rpworker.

The check runs inside images where neither builder nor the YAML data exists, so it reads
``rpworker/cuda_drivers.json``; this module is the only writer of that file (through
``rpbuild data refresh``), and a test fails when the file and the data differ.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from builder.build.compat import CompatData

RUNTIME_FILE = "cuda_drivers.json"


def table(data: CompatData) -> dict[str, Any]:
    branches: dict[str, dict[str, list[int]]] = {}
    for release in data.cuda:  # version order: a minor's newest patch wins
        for arch, require in release.require_cuda:
            branches.setdefault(arch, {})[release.major_minor] = list(require.branches)
    return {
        "generated": "from images/cuda.yaml by `rpbuild data refresh`: edit the YAML, not this",
        "families": {
            str(f.major): {"min_driver": f.min_driver, "end_of_life": f.end_of_life}
            for f in data.families
        },
        "drivers": dict(data.drivers),
        "forward_compat_branches": branches,
    }


def text(data: CompatData) -> str:
    return json.dumps(table(data), indent=2) + "\n"


def runtime_path() -> Path:
    """The table inside the rpworker package (the checkout's file in an editable install)."""
    return Path(str(resources.files("rpworker").joinpath(RUNTIME_FILE)))
