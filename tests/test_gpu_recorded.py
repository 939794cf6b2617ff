"""The facts a real H200 host reported (docs/gpu-check/h200-driver-580.txt), replayed.

That run used the check as it was before NVIDIA's compatibility rules were applied:
it refused CUDA 13.1 and 13.2 images on driver 580.159.04. Replayed through the
fake NVML, the same facts must now give NVIDIA's verdicts: every release passes,
13.1 and 13.2 by minor-version compatibility (13.x runs on >= 580.65.06).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.fake_nvml import GpuCheck

RECORDING = Path(__file__).resolve().parents[1] / "docs" / "gpu-check" / "h200-driver-580.txt"

H200 = {
    "FAKE_NVML_DRIVER_VERSION": "580.159.04",
    "FAKE_NVML_CUDA_VERSION": "13000",
    "FAKE_NVML_DEVICE0_NAME": "NVIDIA H200",
    "FAKE_NVML_DEVICE0_UUID": "GPU-0bdf7e1c-4b9a-0abd-9e08-cb874f122db4",
    "FAKE_NVML_DEVICE0_MEMORY_TOTAL_MB": "143771",
    "FAKE_NVML_DEVICE0_MEMORY_FREE_MB": "143155",
    "FAKE_NVML_DEVICE0_COMPUTE_CAPABILITY": "9.0",
    "FAKE_NVML_DEVICE0_BRAND": "14",
    "FAKE_NVML_DEVICE0_RETIRED_PAGES_PENDING": "NOT_SUPPORTED",
}


def test_the_replayed_facts_are_the_recorded_ones() -> None:
    recorded = RECORDING.read_text()
    assert "driver 580.159.04" in recorded
    assert "cuda_driver_version_v2 13000" in recorded
    assert "name NVIDIA H200 brand 14 cc (9, 0)" in recorded
    assert "retired_pending <NVMLError_NotSupported" in recorded


@pytest.mark.parametrize(
    ("cuda", "notes"),
    [
        ("12.1", []),
        ("12.4", []),
        ("12.8", []),
        ("12.9", []),
        ("13.0", []),
        ("13.1", ["minor-version-compatibility"]),
        ("13.2", ["minor-version-compatibility"]),
    ],
)
def test_an_h200_on_driver_580_runs_every_current_release(
    gpu_check: GpuCheck, cuda: str, notes: list[str]
) -> None:
    result = gpu_check("--json", "--cuda", cuda, **H200)
    data = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["healthy"] is True
    assert data["findings"] == []
    assert [note["code"] for note in data["notes"]] == notes
    assert data["devices"][0]["brand"] == "nvidia"
