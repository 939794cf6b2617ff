"""NVML probing: the facts about the GPUs, and the problems NVML itself reports.

Every error class comes from the real ``pynvml``; a query the GPU or driver
lacks (NotSupported, FunctionNotFound) is a missing fact, never a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pynvml

from rpworker import cuda_compat
from rpworker.cuda_compat import CudaVersion

MIB = 1024 * 1024

BRANDS = (
    "unknown",
    "quadro",
    "tesla",
    "nvs",
    "grid",
    "geforce",
    "titan",
    "vapps",
    "vpc",
    "vcs",
    "vws",
    "cloudgaming",
    "quadrortx",
    "nvidiartx",
    "nvidia",
    "geforcertx",
    "titanrtx",
)
"""``nvmlBrandType_t`` by number (nvml.h), named as NVIDIA_REQUIRE_CUDA names brands."""


@dataclass(frozen=True)
class Finding:
    """One problem: ``code`` for machines, ``reason`` and ``fix`` for people."""

    code: str
    reason: str
    fix: str
    device: int | None = None

    @property
    def where(self) -> str:
        """``"GPU <index>: "`` before a device's problem; nothing before the host's."""
        return "" if self.device is None else f"GPU {self.device}: "

    def text(self) -> str:
        return f"{self.where}{self.reason}; fix: {self.fix}"


@dataclass(frozen=True)
class DeviceFacts:
    """What NVML says about one GPU; None where the GPU does not support the query."""

    index: int
    name: str | None = None
    uuid: str | None = None
    memory_total_mb: int | None = None
    memory_free_mb: int | None = None
    compute_capability: CudaVersion | None = None
    mig_enabled: bool | None = None
    brand: str | None = None


@dataclass(frozen=True)
class GpuFacts:
    driver_version: str | None
    cuda_driver_version: CudaVersion | None
    devices: tuple[DeviceFacts, ...]


_INIT_ERRORS: tuple[tuple[str, str, str, str], ...] = (
    (
        "NVMLError_LibraryNotFound",
        "nvml-library-not-found",
        "libnvidia-ml.so.1 is missing: the container was started without the NVIDIA runtime",
        "start it with `docker run --gpus all` on a host with the NVIDIA Container Toolkit "
        "(on RunPod: a GPU endpoint)",
    ),
    (
        "NVMLError_DriverNotLoaded",
        "driver-not-loaded",
        "the NVIDIA kernel driver is not loaded on the host",
        "install or load the driver on the host until `nvidia-smi` works there",
    ),
    (
        "NVMLError_NoPermission",
        "no-permission",
        "no permission to open the GPU device files (/dev/nvidia*)",
        "pass GPUs with `--gpus all` rather than bare `--device`, or run as a user who may "
        "open /dev/nvidia*",
    ),
    (
        "NVMLError_LibRmVersionMismatch",
        "driver-library-mismatch",
        "the NVML library and the kernel driver have different versions (a driver update "
        "without a reboot)",
        "reboot the host, or reinstall the driver so library and kernel module match",
    ),
)

_DEVICE_ERRORS: tuple[tuple[str, str, str, str], ...] = (
    (
        "NVMLError_GpuIsLost",
        "gpu-lost",
        "the GPU is lost (it fell off the bus)",
        "reset the GPU or reboot the host; on RunPod, terminate this worker to get another",
    ),
    (
        "NVMLError_ResetRequired",
        "reset-required",
        "the GPU needs a reset",
        "reset it (`nvidia-smi -r -i <index>`) or reboot the host",
    ),
)


def _classify(
    error: Exception, table: tuple[tuple[str, str, str, str], ...], device: int | None
) -> Finding | None:
    for class_name, code, reason, fix in table:
        if isinstance(error, getattr(pynvml, class_name)):
            return Finding(code, reason, fix, device)
    return None


def _query(call: Callable[..., Any], *args: Any) -> Any:
    """A query this GPU or driver may lack: that is a missing fact (None), not a failure."""
    try:
        return call(*args)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound):
        return None


def probe() -> tuple[GpuFacts | None, list[Finding]]:
    """Ask NVML for the facts and the problems it reports itself."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return None, [_classify(error, _INIT_ERRORS, None) or _nvml_failure(error)]
    try:
        return _probe_system()
    except pynvml.NVMLError as error:
        return None, [_nvml_failure(error)]
    finally:
        pynvml.nvmlShutdown()


def _nvml_failure(error: Exception) -> Finding:
    return Finding(
        "nvml-error",
        f"NVML failed: {error}",
        "check that `nvidia-smi` works on the host and in the container",
    )


def _probe_system() -> tuple[GpuFacts, list[Finding]]:
    driver = _query(pynvml.nvmlSystemGetDriverVersion)
    cuda = _query(pynvml.nvmlSystemGetCudaDriverVersion_v2)
    findings: list[Finding] = []
    devices: list[DeviceFacts] = []
    for index in range(pynvml.nvmlDeviceGetCount()):
        device, problems = _probe_device(index)
        devices.append(device)
        findings.extend(problems)
    facts = GpuFacts(driver, None if cuda is None else cuda_compat.from_nvml(cuda), tuple(devices))
    return facts, findings


def _probe_device(index: int) -> tuple[DeviceFacts, list[Finding]]:
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = _query(pynvml.nvmlDeviceGetMemoryInfo, handle)
        mig = _query(pynvml.nvmlDeviceGetMigMode, handle)
        brand = _query(pynvml.nvmlDeviceGetBrand, handle)
        facts = DeviceFacts(
            index=index,
            name=_query(pynvml.nvmlDeviceGetName, handle),
            uuid=_query(pynvml.nvmlDeviceGetUUID, handle),
            memory_total_mb=None if memory is None else memory.total // MIB,
            memory_free_mb=None if memory is None else memory.free // MIB,
            compute_capability=_query(pynvml.nvmlDeviceGetCudaComputeCapability, handle),
            mig_enabled=None if mig is None else mig[0] == pynvml.NVML_DEVICE_MIG_ENABLE,
            brand=None if brand is None else _brand_name(brand),
        )
        return facts, _device_health(index, handle)
    except pynvml.NVMLError as error:
        finding = _classify(error, _DEVICE_ERRORS, index) or Finding(
            "device-error",
            f"NVML cannot query the GPU: {error}",
            "check the GPU with `nvidia-smi -q` on the host",
            index,
        )
        return DeviceFacts(index), [finding]


def _brand_name(number: int) -> str:
    return BRANDS[number] if 0 <= number < len(BRANDS) else f"brand {number}"


def _device_health(index: int, handle: Any) -> list[Finding]:
    """Memory faults NVML knows about; each needs the host's attention, not a retry."""
    findings = []
    if _query(pynvml.nvmlDeviceGetRetiredPagesPendingStatus, handle) == 1:
        findings.append(
            Finding(
                "retired-pages-pending",
                "memory pages are waiting to be retired",
                "reset the GPU or reboot the host so the retirement takes effect",
                index,
            )
        )
    rows = _query(pynvml.nvmlDeviceGetRemappedRows, handle)
    if rows is not None and rows[3]:
        findings.append(
            Finding(
                "row-remapping-failed",
                "memory row remapping failed: the GPU memory is degraded",
                "take the GPU out of service (replace it); on RunPod, terminate this worker",
                index,
            )
        )
    elif rows is not None and rows[2]:
        findings.append(
            Finding(
                "row-remapping-pending",
                "memory row remapping is pending",
                "reset the GPU or reboot the host so the remapping takes effect",
                index,
            )
        )
    uncorrectable = _query(
        pynvml.nvmlDeviceGetTotalEccErrors,
        handle,
        pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
        pynvml.NVML_VOLATILE_ECC,
    )
    if uncorrectable:
        findings.append(
            Finding(
                "uncorrectable-ecc",
                f"{uncorrectable} uncorrectable ECC error(s) since the driver loaded",
                "reset the GPU or reboot the host; if they come back, replace the GPU",
                index,
            )
        )
    return findings
