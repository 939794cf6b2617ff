"""CUDA versions, and NVIDIA's facts about which driver runs which CUDA release.

The facts come from rpbuild's ``images/cuda.yaml``, generated into ``cuda_drivers.json``
next to this module (rpworker must not import the builder, and the data is absent from
images): each CUDA major's minimum driver (minor-version compatibility), the driver each
toolkit release shipped with, and the driver branches each release's cuda-compat package
supports (forward compatibility), per architecture.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

CudaVersion = tuple[int, int]
"""``(major, minor)``: what compatibility depends on (patch releases share drivers)."""

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?")
_MACHINE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class Family:
    """A CUDA major: every release of it runs on ``min_driver`` or newer."""

    major: int
    min_driver: str
    end_of_life: bool


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


def driver_key(driver: str) -> tuple[int, ...]:
    """``"570.124.06"`` → ``(570, 124, 6)``, for ordering driver versions."""
    return tuple(int(part) for part in re.findall(r"\d+", driver))


def branch(driver: str) -> int:
    """The driver branch: ``"535.230.02"`` → 535."""
    return driver_key(driver)[0]


@cache
def _table() -> dict[str, Any]:
    text = resources.files("rpworker").joinpath("cuda_drivers.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def family(major: int) -> Family | None:
    entry = _table()["families"].get(str(major))
    return None if entry is None else Family(major, entry["min_driver"], entry["end_of_life"])


def release_driver(release: str) -> str | None:
    """The driver ``release`` shipped with (``"12.8"`` means its first release, x.y.0).

    A patch release missing from the table gets the newest earlier one of its minor.
    """
    try:
        wanted = tuple(int(part) for part in release.strip().split("."))
    except ValueError:
        return None
    wanted = wanted if len(wanted) == 3 else (*wanted[:2], 0)
    same_minor = [
        (key, driver)
        for version, driver in _table()["drivers"].items()
        if (key := tuple(int(p) for p in version.split(".")))[:2] == wanted[:2] and key <= wanted
    ]
    if not same_minor:
        return None
    driver: str = max(same_minor)[1]
    return driver


def forward_compat_branches(version: CudaVersion, arch: str | None = None) -> tuple[int, ...]:
    """Driver branches where the release's cuda-compat runs it; empty when none are known."""
    arch = arch or _MACHINE_ARCH.get(platform.machine(), "amd64")
    branches = _table()["forward_compat_branches"].get(arch, {}).get(text(version), [])
    return tuple(branches)
