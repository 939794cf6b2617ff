"""The GPU check through the real pynvml, answered by the fake libnvidia-ml.so.1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from builder.endpoint.emulator import Emulator
from rpworker import cuda_compat, gpu
from rpworker.gpu_probe import DeviceFacts, GpuFacts
from tests.fixtures.fake_nvml import GpuCheck, clean_env, real_nvml_present
from tests.fixtures.platform import StartWorker
from tests.fixtures.worker_process import ApiProcess, run_rpworker, write_handler


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stderr == "", result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def unhealthy(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 1, result.stdout + result.stderr
    return report(result)


def codes(data: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(finding["code"], finding["device"]) for finding in data["findings"]]


def test_healthy_gpu_reports_its_facts_and_exits_0(gpu_check: GpuCheck) -> None:
    result = gpu_check(
        "--json",
        RPBUILD_CUDA_VERSION="12.1.1",
        FAKE_NVML_DRIVER_VERSION="550.54.15",
        FAKE_NVML_CUDA_VERSION="12040",
        FAKE_NVML_DEVICE0_NAME="NVIDIA H100 80GB HBM3",
        FAKE_NVML_DEVICE0_UUID="GPU-1234",
        FAKE_NVML_DEVICE0_MEMORY_TOTAL_MB="81559",
        FAKE_NVML_DEVICE0_MEMORY_FREE_MB="80000",
        FAKE_NVML_DEVICE0_COMPUTE_CAPABILITY="9.0",
        FAKE_NVML_DEVICE0_MIG_MODE="1",
    )
    assert result.returncode == 0
    data = report(result)
    assert data["healthy"] is True
    assert data["findings"] == []
    assert data["driver_version"] == "550.54.15"
    assert data["cuda_driver_version"] == "12.4"
    assert (data["image_cuda"], data["image_cuda_source"]) == ("12.1", "RPBUILD_CUDA_VERSION")
    assert data["devices"] == [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": "GPU-1234",
            "memory_total_mb": 81559,
            "memory_free_mb": 80000,
            "compute_capability": "9.0",
            "mig": "enabled",
            "brand": "nvidia",
        }
    ]
    assert data["notes"] == []


def test_library_not_found_says_to_start_with_the_nvidia_runtime(gpu_check: GpuCheck) -> None:
    if real_nvml_present():
        pytest.skip("this machine has a real libnvidia-ml: the library cannot be missing here")
    result = gpu_check("--json", fake=False)
    data = unhealthy(result)
    assert codes(data) == [("nvml-library-not-found", None)]
    assert "--gpus all" in data["findings"][0]["fix"]
    assert data["devices"] == []


@pytest.mark.parametrize(
    ("error", "code", "fix_words"),
    [
        ("DRIVER_NOT_LOADED", "driver-not-loaded", "nvidia-smi"),
        ("NO_PERMISSION", "no-permission", "/dev/nvidia"),
        ("LIB_RM_VERSION_MISMATCH", "driver-library-mismatch", "reboot"),
        ("UNKNOWN", "nvml-error", "nvidia-smi"),
    ],
)
def test_init_errors_are_classified(
    gpu_check: GpuCheck, error: str, code: str, fix_words: str
) -> None:
    result = gpu_check("--json", FAKE_NVML_INIT_ERROR=error)
    data = unhealthy(result)
    assert codes(data) == [(code, None)]
    assert fix_words in data["findings"][0]["fix"]
    assert data["driver_version"] == "n/a"


def test_zero_gpus_names_the_visible_devices_setting(gpu_check: GpuCheck) -> None:
    result = gpu_check("--json", FAKE_NVML_DEVICE_COUNT="0")
    data = unhealthy(result)
    assert codes(data) == [("no-gpus", None)]
    assert "NVIDIA_VISIBLE_DEVICES" in data["findings"][0]["fix"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("GPU_IS_LOST", "gpu-lost"),
        ("RESET_REQUIRED", "reset-required"),
        ("TIMEOUT", "device-error"),
    ],
)
def test_a_failing_device_is_named_and_the_others_still_reported(
    gpu_check: GpuCheck, error: str, code: str
) -> None:
    result = gpu_check("--json", FAKE_NVML_DEVICE_COUNT="2", FAKE_NVML_DEVICE1_ERROR=error)
    data = unhealthy(result)
    assert codes(data) == [(code, 1)]
    assert data["devices"][0]["name"] == "NVIDIA Fake GPU"
    assert data["devices"][1]["name"] == "n/a"


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("RETIRED_PAGES_PENDING", "1", "retired-pages-pending"),
        ("REMAPPED_ROWS", "3,0,1,0", "row-remapping-pending"),
        ("REMAPPED_ROWS", "0,2,1,1", "row-remapping-failed"),
        ("ECC_UNCORRECTED", "2", "uncorrectable-ecc"),
    ],
)
def test_memory_faults_are_findings(
    gpu_check: GpuCheck, variable: str, value: str, code: str
) -> None:
    env = {"FAKE_NVML_DEVICE_COUNT": "2", f"FAKE_NVML_DEVICE1_{variable}": value}
    result = gpu_check("--json", **env)
    assert codes(unhealthy(result)) == [(code, 1)]


def test_not_supported_queries_are_missing_facts_not_failures(gpu_check: GpuCheck) -> None:
    unsupported = ("NAME", "UUID", "MEMORY_TOTAL_MB", "COMPUTE_CAPABILITY", "MIG_MODE", "BRAND")
    unsupported += ("RETIRED_PAGES_PENDING", "REMAPPED_ROWS", "ECC_UNCORRECTED")
    env = {f"FAKE_NVML_DEVICE0_{name}": "NOT_SUPPORTED" for name in unsupported}
    result = gpu_check(
        "--json",
        "--cuda",
        "12.4",
        FAKE_NVML_DRIVER_VERSION="NOT_SUPPORTED",
        FAKE_NVML_CUDA_VERSION="NOT_SUPPORTED",
        **env,
    )
    assert result.returncode == 0
    data = report(result)
    assert data["healthy"] is True
    assert (data["driver_version"], data["cuda_driver_version"]) == ("n/a", "n/a")
    assert set(data["devices"][0].values()) == {0, "n/a"}


# NVIDIA's documented outcomes (CUDA Compatibility guide): a driver at least as new as the
# image's CUDA runs it ("pass"); a driver of the same CUDA major, at least the major's minimum
# (12.x: 525.60.13, 13.x: 580.65.06), runs it by minor-version compatibility ("minor"); an
# older driver runs it only through the image's cuda-compat on a datacenter GPU, on a branch
# that release's cuda-compat supports (the branches of its NVIDIA_REQUIRE_CUDA) ("forward");
# else it fails. Cells: (on a datacenter GPU, on a GeForce GPU), both with cuda-compat.
DRIVERS = {
    "R470": ("470.256.02", "11040"),
    "R525": ("525.147.05", "12000"),
    "R535": ("535.230.02", "12020"),
    "R550": ("550.144.03", "12040"),
    "R570": ("570.172.08", "12080"),
}
OUTCOMES = {
    ("R470", "12.1.1"): ("forward", "fail"),
    ("R470", "12.4.1"): ("forward", "fail"),
    ("R470", "12.8.1"): ("forward", "fail"),
    ("R470", "13.0.0"): ("fail", "fail"),
    ("R525", "12.1.1"): ("minor", "minor"),
    ("R525", "12.4.1"): ("minor", "minor"),
    ("R525", "12.8.1"): ("minor", "minor"),
    ("R525", "13.0.0"): ("fail", "fail"),
    ("R535", "12.1.1"): ("pass", "pass"),
    ("R535", "12.4.1"): ("minor", "minor"),
    ("R535", "12.8.1"): ("minor", "minor"),
    ("R535", "13.0.0"): ("forward", "fail"),
    ("R550", "12.1.1"): ("pass", "pass"),
    ("R550", "12.4.1"): ("pass", "pass"),
    ("R550", "12.8.1"): ("minor", "minor"),
    ("R550", "13.0.0"): ("forward", "fail"),
    ("R570", "12.1.1"): ("pass", "pass"),
    ("R570", "12.4.1"): ("pass", "pass"),
    ("R570", "12.8.1"): ("pass", "pass"),
    ("R570", "13.0.0"): ("forward", "fail"),
}
BRAND_NUMBERS = {"datacenter": "14", "geforce": "5"}
CODES = {
    "pass": ([], []),
    "minor": ([], ["minor-version-compatibility"]),
    "forward": ([], ["forward-compatibility"]),
    "fail": (["driver-too-old"], []),
}


def compat_dir(tmp_path: Path, driver: str) -> str:
    """A stand-in for /usr/local/cuda/compat: NVIDIA's images put libcuda.so.<driver> there."""
    directory = tmp_path / "compat"
    directory.mkdir(exist_ok=True)
    (directory / f"libcuda.so.{driver}").write_bytes(b"")
    (directory / "libcuda.so.1").symlink_to(f"libcuda.so.{driver}")
    return str(directory)


@pytest.mark.parametrize("gpu_kind", ["datacenter", "geforce"])
@pytest.mark.parametrize(("driver", "image"), list(OUTCOMES))
def test_nvidia_compatibility_outcomes(
    gpu_check: GpuCheck, tmp_path: Path, driver: str, image: str, gpu_kind: str
) -> None:
    version, nvml_cuda = DRIVERS[driver]
    result = gpu_check(
        "--json",
        CUDA_VERSION=image,
        RPWORKER_CUDA_COMPAT_DIR=compat_dir(tmp_path, cuda_compat.release_driver(image) or ""),
        FAKE_NVML_DRIVER_VERSION=version,
        FAKE_NVML_CUDA_VERSION=nvml_cuda,
        FAKE_NVML_DEVICE0_BRAND=BRAND_NUMBERS[gpu_kind],
    )
    data = report(result)
    outcome = OUTCOMES[driver, image][gpu_kind == "geforce"]
    findings, notes = CODES[outcome]
    assert [f["code"] for f in data["findings"]] == findings
    assert [n["code"] for n in data["notes"]] == notes
    assert result.returncode == (1 if findings else 0)


def test_minor_version_compatibility_note_names_the_rule_the_limit_and_the_fix(
    gpu_check: GpuCheck,
) -> None:
    result = gpu_check(
        "--json",
        CUDA_VERSION="12.8.1",
        FAKE_NVML_DRIVER_VERSION="535.230.02",
        FAKE_NVML_CUDA_VERSION="12020",
    )
    data = report(result)
    assert data["healthy"] is True
    [note] = data["notes"]
    assert "minor-version compatibility" in note["reason"]
    assert "driver 535.230.02 supports CUDA up to 12.2" in note["reason"]
    assert "any CUDA 12.x on a driver >= 525.60.13" in note["reason"]
    assert "PTX JIT" in note["reason"]
    assert note["fix"] == "upgrade the host driver to >= 570.124.06 to lift that limit"


def test_forward_compatibility_note_names_the_compat_libraries(
    gpu_check: GpuCheck, tmp_path: Path
) -> None:
    directory = compat_dir(tmp_path, "580.65.06")
    result = gpu_check(
        "--json",
        RPBUILD_CUDA_VERSION="13.0.0",
        RPWORKER_CUDA_COMPAT_DIR=directory,
        FAKE_NVML_DRIVER_VERSION="550.144.03",
        FAKE_NVML_CUDA_VERSION="12040",
        FAKE_NVML_DEVICE0_BRAND="2",
    )
    data = report(result)
    assert (data["healthy"], data["cuda_compat"]) == (True, "580.65.06")
    [note] = data["notes"]
    assert "forward compatibility" in note["reason"]
    assert f"(580.65.06, in {directory})" in note["reason"]
    assert "older than CUDA 13.x's minimum 580.65.06" in note["reason"]
    assert note["fix"] == "upgrade the host driver to >= 580.65.06 to run without cuda-compat"


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({}, "the image has no cuda-compat libcuda.so in"),
        ({"FAKE_NVML_DEVICE0_BRAND": "15"}, "NVML reports brand geforcertx"),
        ({"FAKE_NVML_DRIVER_VERSION": "525.147.05"}, "supports driver branches R535, R550"),
    ],
)
def test_below_the_family_minimum_fails_naming_why_forward_compatibility_does_not_apply(
    gpu_check: GpuCheck, tmp_path: Path, env: dict[str, str], why: str
) -> None:
    directory = compat_dir(tmp_path, "580.65.06") if env else str(tmp_path / "none")
    result = gpu_check(
        "--json",
        **{
            "CUDA_VERSION": "13.0.0",
            "RPWORKER_CUDA_COMPAT_DIR": directory,
            "FAKE_NVML_DRIVER_VERSION": "550.144.03",
            "FAKE_NVML_CUDA_VERSION": "12040",
            **env,
        },
    )
    data = unhealthy(result)
    [finding] = data["findings"]
    assert finding["code"] == "driver-too-old"
    assert "CUDA 13.x needs a driver >= 580.65.06" in finding["reason"]
    assert why in finding["reason"]
    assert finding["fix"] == (
        "run on a host with driver >= 580.65.06, or rebuild the image for CUDA 12.4 or older "
        "(`rpbuild image --cuda 12.4`)"
    )


def test_an_end_of_life_cuda_gets_a_note(gpu_check: GpuCheck) -> None:
    result = gpu_check("--json", CUDA_VERSION="11.8.0", FAKE_NVML_CUDA_VERSION="12020")
    data = report(result)
    assert data["healthy"] is True
    assert [n["code"] for n in data["notes"]] == ["cuda-end-of-life"]


def test_cuda_option_wins_over_image_metadata(gpu_check: GpuCheck) -> None:
    newer_image = {"RPBUILD_CUDA_VERSION": "12.6.0", "CUDA_VERSION": "12.6.0"}
    result = gpu_check("--json", "--cuda", "12.1", FAKE_NVML_CUDA_VERSION="12020", **newer_image)
    assert result.returncode == 0
    data = report(result)
    assert (data["image_cuda"], data["image_cuda_source"]) == ("12.1", "--cuda")


def test_rpbuild_metadata_wins_over_the_base_images(gpu_check: GpuCheck) -> None:
    env = {"RPBUILD_CUDA_VERSION": "12.2.2", "CUDA_VERSION": "12.8.0"}
    result = gpu_check("--json", FAKE_NVML_CUDA_VERSION="12020", **env)
    assert result.returncode == 0
    assert report(result)["image_cuda"] == "12.2"


@pytest.mark.parametrize(
    ("requirement", "value", "code", "device"),
    [
        ("RPWORKER_MIN_GPUS", "3", "too-few-gpus", None),
        ("RPWORKER_MIN_FREE_MEMORY_MB", "30000", "low-free-memory", 1),
        ("RPWORKER_MIN_COMPUTE_CAPABILITY", "8.9", "low-compute-capability", 1),
    ],
)
def test_unmet_requirements_fail(
    gpu_check: GpuCheck, requirement: str, value: str, code: str, device: int | None
) -> None:
    big = {
        "FAKE_NVML_DEVICE0_MEMORY_FREE_MB": "40000",
        "FAKE_NVML_DEVICE0_COMPUTE_CAPABILITY": "9.0",
    }
    result = gpu_check("--json", FAKE_NVML_DEVICE_COUNT="2", **big, **{requirement: value})
    data = unhealthy(result)
    assert codes(data) == [(code, device)]
    assert requirement in data["findings"][0]["fix"]


def test_met_requirements_pass(gpu_check: GpuCheck) -> None:
    result = gpu_check(
        "--json",
        FAKE_NVML_DEVICE_COUNT="2",
        RPWORKER_MIN_GPUS="2",
        RPWORKER_MIN_FREE_MEMORY_MB="24000",
        RPWORKER_MIN_COMPUTE_CAPABILITY="8.6",
    )
    assert result.returncode == 0
    assert report(result)["requirements"] == {
        "min_gpus": 2,
        "min_free_memory_mb": 24000,
        "min_compute_capability": "8.6",
    }


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("--cuda", "twelve"), {}, "--cuda"),
        ((), {"RPWORKER_MIN_GPUS": "two"}, "RPWORKER_MIN_GPUS"),
        ((), {"RPWORKER_MIN_COMPUTE_CAPABILITY": "9"}, "RPWORKER_MIN_COMPUTE_CAPABILITY"),
        ((), {"CUDA_VERSION": "latest"}, "CUDA_VERSION"),
    ],
)
def test_wrong_settings_exit_2_naming_the_setting(
    gpu_check: GpuCheck, args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    result = gpu_check(*args, **env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert named in result.stderr


def test_table_output(gpu_check: GpuCheck) -> None:
    result = gpu_check(
        "--cuda", "12.4", FAKE_NVML_DEVICE_COUNT="2", FAKE_NVML_DEVICE1_ERROR="GPU_IS_LOST"
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "GPU check: 1 problem(s)",
        "driver: 535.104.05 (CUDA 12.2)",
        "image CUDA: 12.4 (from --cuda)",
    ]
    table = [" ".join(line.split()) for line in lines[4:7]]
    assert table == [
        "GPU name UUID free MiB total MiB compute MIG",
        "0 NVIDIA Fake GPU GPU-00000000-fake-0 24000 24576 8.6 disabled",
        "1 n/a n/a n/a n/a n/a n/a",
    ]
    assert "problem (gpu-lost): GPU 1: the GPU is lost (it fell off the bus)" in lines
    assert "note (minor-version-compatibility): driver 535.104.05 supports" in result.stdout


def test_runs_as_a_module_too(fake_nvml_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rpworker.gpu", "--json"],
        env=clean_env(LD_LIBRARY_PATH=str(fake_nvml_dir)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert report(result)["devices"][0]["uuid"] == "GPU-00000000-fake-0"


STARTUP = """
import json, logging, os
from rpworker.gpu import check_at_startup
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
outcome = check_at_startup(os.environ, production={production})
print(json.dumps({{"failed": outcome.failed, "reason": outcome.reason, **outcome.health()}}))
"""


def startup(fake_nvml_dir: Path, *, production: bool, **env: str) -> tuple[dict[str, Any], str]:
    """``check_at_startup`` in a fresh process (NVML loads once per process)."""
    result = subprocess.run(
        [sys.executable, "-c", STARTUP.format(production=production)],
        env=clean_env(LD_LIBRARY_PATH=str(fake_nvml_dir), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_startup_strict_in_production_fails_with_a_reason(fake_nvml_dir: Path) -> None:
    outcome, _ = startup(
        fake_nvml_dir, production=True, CUDA_VERSION="12.4.1", FAKE_NVML_DEVICE0_ERROR="GPU_IS_LOST"
    )
    assert outcome["mode"] == "strict"
    assert outcome["failed"] is True
    assert outcome["reason"].startswith("GPU 0: the GPU is lost")
    assert [note["code"] for note in outcome["notes"]] == ["minor-version-compatibility"]


def test_startup_warn_mode_does_not_fail(fake_nvml_dir: Path) -> None:
    outcome, _ = startup(
        fake_nvml_dir,
        production=True,
        RPWORKER_GPU_CHECK="warn",
        RUNPOD_ENDPOINT_ID="ep",
        CUDA_VERSION="12.4.1",
        FAKE_NVML_DEVICE0_ERROR="GPU_IS_LOST",
    )
    assert (outcome["mode"], outcome["failed"], outcome["healthy"]) == ("warn", False, False)


def test_startup_local_modes_check_only_when_asked(fake_nvml_dir: Path) -> None:
    skipped, _ = startup(fake_nvml_dir, production=False, CUDA_VERSION="12.1.1")
    assert skipped == {
        "failed": False,
        "reason": "",
        "mode": "off",
        "skipped": "RPWORKER_GPU_CHECK is off",
    }
    checked, _ = startup(
        fake_nvml_dir, production=False, CUDA_VERSION="12.1.1", RPWORKER_GPU_CHECK="strict"
    )
    assert (checked["mode"], checked["healthy"], checked["failed"]) == ("strict", True, False)
    assert checked["devices"][0]["name"] == "NVIDIA Fake GPU"


def test_startup_skips_cpu_images_without_touching_nvml(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rpworker")
    outcome = gpu.check_at_startup({"RPWORKER_GPU_CHECK": "strict"}, production=True)
    assert outcome.report is None
    assert not outcome.failed
    [line] = [json.loads(r.getMessage()) for r in caplog.records if "gpu_check" in r.getMessage()]
    assert line["event"] == "gpu_check"
    assert line["skipped"] == "CPU image: no RPBUILD_CUDA_VERSION/CUDA_VERSION"


@pytest.mark.parametrize(("production", "mode"), [(True, "strict"), (False, "warn")])
def test_startup_treats_a_wrong_mode_as_a_failed_check(production: bool, mode: str) -> None:
    outcome = gpu.check_at_startup(
        {"RPWORKER_GPU_CHECK": "yes", "CUDA_VERSION": "12.1.1"}, production=production
    )
    assert outcome.mode.value == mode
    assert outcome.failed is production
    assert outcome.reason == "RPWORKER_GPU_CHECK='yes' is invalid; fix: use strict, warn or off"


def test_startup_log_line_is_one_json_object_with_the_facts(fake_nvml_dir: Path) -> None:
    _, stderr = startup(fake_nvml_dir, production=True, CUDA_VERSION="12.1.1")
    [line] = [text for text in stderr.splitlines() if '"gpu_check"' in text]
    level, _, message = line.partition(" ")
    assert level == "INFO"
    line = json.loads(message)
    assert line["mode"] == "strict"
    assert line["healthy"] is True
    assert line["devices"][0]["uuid"] == "GPU-00000000-fake-0"


def test_unhealthy_reason_is_capped_for_the_ping_url() -> None:
    facts = GpuFacts(
        "535.104.05", (12, 2), tuple(DeviceFacts(i, memory_free_mb=1) for i in range(50))
    )
    findings, _ = gpu.evaluate(facts, None, gpu.Requirements(min_free_memory_mb=2))
    summary = gpu.Report(facts, None, tuple(findings)).summary()
    assert len(findings) == 50
    assert len(summary) == 1000
    assert summary.endswith("...")


def test_driver_advice_for_a_cuda_major_missing_from_the_table() -> None:
    facts = GpuFacts("580.65.06", (13, 0), (DeviceFacts(0, brand="nvidia"),))
    [finding], notes = gpu.evaluate(facts, gpu.ImageCuda("14.0", "--cuda"), gpu.Requirements())
    assert notes == []
    assert "no minimum is known" in finding.reason
    assert "driver released with CUDA 14.0 or later" in finding.fix


def test_the_compat_driver_is_read_from_a_real_cuda_compat_layout(tmp_path: Path) -> None:
    """The files of /usr/local/cuda/compat on an H200 host with cuda-compat-13-0."""
    (tmp_path / "libcuda.so.580.95.05").write_bytes(b"")
    (tmp_path / "libcudadebugger.so.580.95.05").write_bytes(b"")
    (tmp_path / "libnvidia-nvvm70.so.4").write_bytes(b"")
    (tmp_path / "libcuda.so.1").symlink_to("libcuda.so.580.95.05")
    (tmp_path / "libcuda.so").symlink_to("libcuda.so.1")
    assert gpu.compat_driver(tmp_path) == "580.95.05"
    assert gpu.compat_driver(tmp_path / "missing") is None


def test_release_drivers_come_from_the_data_with_patch_fallback() -> None:
    assert cuda_compat.release_driver("12.8.1") == "570.124.06"
    assert cuda_compat.release_driver("12.8") == "570.26"
    assert cuda_compat.release_driver("13.1.1") == "590.44.01"
    assert cuda_compat.release_driver("12.7") is None
    assert cuda_compat.forward_compat_branches((12, 1), "arm64") == ()
    assert cuda_compat.forward_compat_branches((12, 1), "amd64") == (470, 525)


@pytest.mark.parametrize(
    ("text", "version"), [("12.1", (12, 1)), ("12.1.1", (12, 1)), (" 11.8.0 ", (11, 8))]
)
def test_cuda_versions_parse_to_major_minor(text: str, version: tuple[int, int]) -> None:
    assert cuda_compat.parse(text) == version


def test_nvml_cuda_encoding() -> None:
    assert cuda_compat.from_nvml(12040) == (12, 4)
    assert cuda_compat.from_nvml(11080) == (11, 8)


ECHO = """
def handler(job):
    return {"echo": job["input"]}
"""


async def test_strict_production_worker_pings_unhealthy_and_exits_1(
    emulator: Emulator, start_worker: StartWorker, fake_nvml_dir: Path
) -> None:
    await emulator.submit("never taken")
    worker = await start_worker(
        ECHO,
        LD_LIBRARY_PATH=str(fake_nvml_dir),
        CUDA_VERSION="13.0.0",
        RPWORKER_CUDA_COMPAT_DIR=str(fake_nvml_dir / "no-compat"),
        RPWORKER_GPU_CHECK="",
        RUNPOD_ENDPOINT_ID="ep",
    )
    assert await worker.wait() == 1
    [(_, ping)] = emulator.pings
    assert (ping["status"], ping["check"]) == ("unhealthy", "gpu")
    assert "supports CUDA up to 12.2, the image needs CUDA 13.0" in ping["reason"]
    assert "rpbuild image --cuda 12.2" in ping["reason"]
    assert emulator.takes == []
    [line] = [json.loads(text) for text in worker.output.splitlines() if "gpu_check" in text]
    facts = json.loads(line["message"])
    assert (line["level"], facts["mode"], facts["healthy"]) == ("ERROR", "strict", False)


async def test_warn_mode_worker_logs_the_problem_and_takes_jobs(
    emulator: Emulator, start_worker: StartWorker, fake_nvml_dir: Path
) -> None:
    [job_id] = await emulator.submit("hi")
    worker = await start_worker(
        ECHO,
        LD_LIBRARY_PATH=str(fake_nvml_dir),
        CUDA_VERSION="12.1.1",
        RPWORKER_GPU_CHECK="warn",
        RUNPOD_ENDPOINT_ID="ep",
        FAKE_NVML_DEVICE0_ECC_UNCORRECTED="4",
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results[job_id] == {"output": {"echo": "hi"}}
    assert all(query.get("status") != "unhealthy" for _, query in emulator.pings)
    [line] = [json.loads(text) for text in worker.output.splitlines() if "gpu_check" in text]
    assert line["level"] == "WARN"
    assert json.loads(line["message"])["findings"][0]["code"] == "uncorrectable-ecc"


def health(api: ApiProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{api.url}/health", timeout=30) as answer:
        data: dict[str, Any] = json.load(answer)
    return data


def test_local_api_health_carries_the_gpu_facts(
    api_process: Callable[..., ApiProcess], fake_nvml_dir: Path, tmp_path: Path
) -> None:
    handler = write_handler(tmp_path, ECHO)
    env = {"LD_LIBRARY_PATH": str(fake_nvml_dir), "CUDA_VERSION": "12.1.1"}
    checked = api_process(handler, env={**env, "RPWORKER_GPU_CHECK": "warn"})
    facts = health(checked)["gpu"]
    assert (facts["mode"], facts["healthy"], facts["image_cuda"]) == ("warn", True, "12.1")
    assert facts["devices"][0]["uuid"] == "GPU-00000000-fake-0"
    unchecked = api_process(handler, env={**env, "RPWORKER_GPU_CHECK": ""})
    assert health(unchecked)["gpu"] == {"mode": "off", "skipped": "RPWORKER_GPU_CHECK is off"}


def test_local_modes_in_strict_mode_refuse_a_failing_gpu(
    fake_nvml_dir: Path, tmp_path: Path
) -> None:
    handler = write_handler(tmp_path, ECHO)
    env = {
        "LD_LIBRARY_PATH": str(fake_nvml_dir),
        "CUDA_VERSION": "12.1.1",
        "RPWORKER_GPU_CHECK": "strict",
        "FAKE_NVML_DEVICE_COUNT": "0",
    }
    result = run_rpworker(str(handler), "--rp_serve_api", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "GPU check failed: no GPU is visible in this container" in result.stderr
    assert "local API listening" not in result.stderr
