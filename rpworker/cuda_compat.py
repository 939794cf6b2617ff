"""CUDA versions, and the driver each CUDA release needs.

The runtime runs inside the image, where rpbuild's compatibility data
(``images/*.yaml``, CLI side) is absent, and rpworker must not import the
builder. The only driver numbers it needs are those for the "upgrade the
driver to >= X" advice, so they live here as a small table: the Linux driver
each CUDA toolkit release first shipped with (its GA release; NVIDIA's CUDA
release notes, Linux x86_64). The pass or fail rule itself uses no table:
NVML reports which CUDA the driver runs.
"""

from __future__ import annotations

import re

CudaVersion = tuple[int, int]
"""``(major, minor)``: what compatibility depends on (patch releases share drivers)."""

_TOOLKIT_DRIVER: dict[CudaVersion, str] = {
    (11, 0): "450.36.06",
    (11, 1): "455.23.05",
    (11, 2): "460.27.03",
    (11, 3): "465.19.01",
    (11, 4): "470.42.01",
    (11, 5): "495.29.05",
    (11, 6): "510.39.01",
    (11, 7): "515.43.04",
    (11, 8): "520.61.05",
    (12, 0): "525.60.13",
    (12, 1): "530.30.02",
    (12, 2): "535.54.03",
    (12, 3): "545.23.06",
    (12, 4): "550.54.14",
    (12, 5): "555.42.02",
    (12, 6): "560.28.03",
    (12, 8): "570.26",
    (12, 9): "575.51.03",
    (13, 0): "580.65.06",
}

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?")


def parse(text: str) -> CudaVersion:
    """``"12.1"`` or ``"12.1.1"`` → ``(12, 1)``; ValueError names the expected form."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a CUDA version: use MAJOR.MINOR, e.g. 12.1")
    return int(match[1]), int(match[2])


def from_nvml(value: int) -> CudaVersion:
    """NVML encodes the driver's CUDA version as ``1000 * major + 10 * minor``."""
    return value // 1000, value % 1000 // 10


def text(version: CudaVersion) -> str:
    return f"{version[0]}.{version[1]}"


def minimum_driver(version: CudaVersion) -> str | None:
    """The driver released with this CUDA version, None for a release not in the table."""
    return _TOOLKIT_DRIVER.get(version)
