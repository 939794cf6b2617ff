"""The GPU check: NVML's facts against what the image needs, with a fix per problem.

A worker on a broken GPU or a too-old driver fails every job with a cryptic
CUDA error; checked at startup, it can instead refuse work with the reason and
the fix. Only NVML is asked (no network probes): :mod:`rpworker.gpu_probe`
collects facts and the problems NVML reports itself, :func:`evaluate` compares
the facts with the image's CUDA version and the requirements.

``rpworker gpu-check [--cuda X.Y] [--json]`` runs :func:`main`; the worker runs
:func:`check_at_startup` before it takes a job.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rpworker import cuda_compat
from rpworker.cuda_compat import CudaVersion
from rpworker.env import SettingError, number
from rpworker.gpu_probe import DeviceFacts, Finding, GpuFacts, probe

log = logging.getLogger("rpworker")

_REASON_LIMIT = 1000
"""The unhealthy ping carries the reason in its URL: keep it well under URL limits."""

IMAGE_CUDA_VARIABLES = ("RPBUILD_CUDA_VERSION", "CUDA_VERSION")
"""Where the image says which CUDA it was built for: rpbuild's env, then NVIDIA's base image's."""


class Mode(str, Enum):
    """``RPWORKER_GPU_CHECK``: what a failed check does to the worker."""

    STRICT = "strict"
    WARN = "warn"
    OFF = "off"


@dataclass(frozen=True)
class Requirements:
    """Optional minimums, baked into the image by ``rpbuild image --min-*``."""

    min_gpus: int | None = None
    min_free_memory_mb: int | None = None
    min_compute_capability: CudaVersion | None = None


@dataclass(frozen=True)
class Report:
    """The result of one check: facts (None when NVML did not start) and findings."""

    facts: GpuFacts | None
    image_cuda: CudaVersion | None
    image_cuda_source: str | None
    findings: tuple[Finding, ...] = ()
    requirements: Requirements = field(default_factory=Requirements)

    @property
    def healthy(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """The findings in one line, short enough for the unhealthy ping."""
        text = " | ".join(finding.text() for finding in self.findings)
        return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."

    def as_dict(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "healthy": self.healthy,
            "driver_version": _fact(facts and facts.driver_version),
            "cuda_driver_version": _fact(facts and _version_text(facts.cuda_driver_version)),
            "image_cuda": _version_text(self.image_cuda),
            "image_cuda_source": self.image_cuda_source,
            "requirements": {
                "min_gpus": self.requirements.min_gpus,
                "min_free_memory_mb": self.requirements.min_free_memory_mb,
                "min_compute_capability": _version_text(self.requirements.min_compute_capability),
            },
            "devices": [_device_dict(device) for device in (facts.devices if facts else ())],
            "findings": [
                {"code": f.code, "device": f.device, "reason": f.reason, "fix": f.fix}
                for f in self.findings
            ],
        }


def _fact(value: object) -> object:
    """A missing fact reads "n/a": NotSupported on one query is not a failure."""
    return "n/a" if value is None else value


def _version_text(version: CudaVersion | None) -> str | None:
    return None if version is None else cuda_compat.text(version)


def _device_dict(device: DeviceFacts) -> dict[str, object]:
    mig = None if device.mig_enabled is None else ("enabled" if device.mig_enabled else "disabled")
    return {
        "index": device.index,
        "name": _fact(device.name),
        "uuid": _fact(device.uuid),
        "memory_total_mb": _fact(device.memory_total_mb),
        "memory_free_mb": _fact(device.memory_free_mb),
        "compute_capability": _fact(_version_text(device.compute_capability)),
        "mig": _fact(mig),
    }


# ------------------------------------------------ comparing with the image's needs


def evaluate(
    facts: GpuFacts, image_cuda: CudaVersion | None, requirements: Requirements
) -> list[Finding]:
    """Problems that come from what the image needs rather than from NVML itself."""
    findings = []
    if not facts.devices:
        findings.append(
            Finding(
                "no-gpus",
                "no GPU is visible in this container",
                "start it with `--gpus all` (or `--gpus device=<index>`); NVIDIA_VISIBLE_DEVICES "
                "must name GPUs, not be void or none",
            )
        )
    driver_cuda = facts.cuda_driver_version
    if image_cuda is not None and driver_cuda is not None and driver_cuda < image_cuda:
        findings.append(_driver_too_old(facts.driver_version, driver_cuda, image_cuda))
    findings.extend(_unmet_requirements(facts.devices, requirements))
    return findings


def _driver_too_old(driver: str | None, driver_cuda: CudaVersion, image: CudaVersion) -> Finding:
    have, need = cuda_compat.text(driver_cuda), cuda_compat.text(image)
    minimum = cuda_compat.minimum_driver(image)
    upgrade = f">= {minimum}" if minimum else f"a version that supports CUDA {need}"
    return Finding(
        "driver-too-old",
        f"the driver {driver or '(version n/a)'} supports CUDA up to {have}, but the image "
        f"needs CUDA {need} (minimum driver {minimum or 'n/a'})",
        f"rebuild the image for CUDA {have} or older (`rpbuild image --cuda {have}`), "
        f"or upgrade the host driver to {upgrade}",
    )


def _unmet_requirements(
    devices: tuple[DeviceFacts, ...], requirements: Requirements
) -> list[Finding]:
    findings = []
    if requirements.min_gpus is not None and len(devices) < requirements.min_gpus:
        findings.append(
            Finding(
                "too-few-gpus",
                f"{len(devices)} GPU(s) visible, the image needs {requirements.min_gpus}",
                "give the container more GPUs (`--gpus all`, or a larger GPU count on RunPod), "
                "or lower RPWORKER_MIN_GPUS",
            )
        )
    for device in devices:
        free, minimum = device.memory_free_mb, requirements.min_free_memory_mb
        if free is not None and minimum is not None and free < minimum:
            findings.append(
                Finding(
                    "low-free-memory",
                    f"{free} MiB GPU memory free, the image needs {minimum} MiB",
                    "free the GPU (other processes hold it) or pick a larger GPU, "
                    "or lower RPWORKER_MIN_FREE_MEMORY_MB",
                    device.index,
                )
            )
        have, need = device.compute_capability, requirements.min_compute_capability
        if have is not None and need is not None and have < need:
            findings.append(
                Finding(
                    "low-compute-capability",
                    f"compute capability {cuda_compat.text(have)}, the image needs "
                    f">= {cuda_compat.text(need)}",
                    "pick a newer GPU type, or lower RPWORKER_MIN_COMPUTE_CAPABILITY",
                    device.index,
                )
            )
    return findings


# ----------------------------------------------------------------- settings


def image_cuda(environ: Mapping[str, str]) -> tuple[CudaVersion, str] | None:
    """The image's CUDA version and the variable it came from; None on a CPU image."""
    for name in IMAGE_CUDA_VARIABLES:
        value = environ.get(name)
        if value:
            return _version_setting(name, value, "a CUDA version such as 12.1.1"), name
    return None


def requirements(environ: Mapping[str, str]) -> Requirements:
    def count(name: str) -> int | None:
        return number(environ, name, int, None)

    capability = environ.get("RPWORKER_MIN_COMPUTE_CAPABILITY")
    return Requirements(
        min_gpus=count("RPWORKER_MIN_GPUS"),
        min_free_memory_mb=count("RPWORKER_MIN_FREE_MEMORY_MB"),
        min_compute_capability=(
            _version_setting("RPWORKER_MIN_COMPUTE_CAPABILITY", capability, "use X.Y, e.g. 8.0")
            if capability
            else None
        ),
    )


def mode(environ: Mapping[str, str], *, production: bool) -> Mode:
    """Strict by default in production; the local modes check only when asked to."""
    value = environ.get("RPWORKER_GPU_CHECK", "")
    if not value:
        return Mode.STRICT if production else Mode.OFF
    try:
        return Mode(value.lower())
    except ValueError:
        raise SettingError("RPWORKER_GPU_CHECK", value, "use strict, warn or off") from None


def _version_setting(setting: str, value: str, expected: str) -> CudaVersion:
    try:
        return cuda_compat.parse(value)
    except ValueError:
        raise SettingError(setting, value, expected) from None


def run_check(environ: Mapping[str, str], cuda: str | None = None) -> Report:
    """Probe and evaluate against ``cuda`` (an ``X.Y`` option) or the image's CUDA."""
    found = (_version_setting("--cuda", cuda, "use X.Y, e.g. 12.1"), "--cuda") if cuda else None
    target, source = found or image_cuda(environ) or (None, None)
    needs = requirements(environ)
    facts, findings = probe()
    if facts is not None:
        findings.extend(evaluate(facts, target, needs))
    return Report(facts, target, source, tuple(findings), needs)


# ----------------------------------------------------------------- at startup


@dataclass(frozen=True)
class StartupCheck:
    """What the startup check decided; ``report`` is None when it was skipped."""

    mode: Mode
    report: Report | None
    skipped: str | None = None

    @property
    def failed(self) -> bool:
        """True when the worker must not take jobs: strict mode and a problem found."""
        return self.mode is Mode.STRICT and self.report is not None and not self.report.healthy

    @property
    def reason(self) -> str:
        return "" if self.report is None else self.report.summary()

    def health(self) -> dict[str, Any]:
        """The ``gpu`` entry of the local API's /health and of the startup log line."""
        entry: dict[str, Any] = {"mode": self.mode.value}
        if self.skipped is not None:
            entry["skipped"] = self.skipped
        if self.report is not None:
            entry.update(self.report.as_dict())
        return entry


def check_at_startup(environ: Mapping[str, str], *, production: bool) -> StartupCheck:
    """Run the check as ``RPWORKER_GPU_CHECK`` says and log one JSON line with the facts.

    A wrong setting is itself a failed check (strict in production): a typo
    must not turn the check off silently.
    """
    try:
        chosen = mode(environ, production=production)
        if chosen is Mode.OFF:
            outcome = StartupCheck(chosen, None, "RPWORKER_GPU_CHECK is off")
        elif image_cuda(environ) is None:
            outcome = StartupCheck(chosen, None, f"CPU image: no {'/'.join(IMAGE_CUDA_VARIABLES)}")
        else:
            outcome = StartupCheck(chosen, run_check(environ))
    except SettingError as error:
        finding = Finding(
            "invalid-setting", f"{error.setting}={error.value!r} is invalid", error.expected
        )
        fallback = Mode.STRICT if production else Mode.WARN
        outcome = StartupCheck(fallback, Report(None, None, None, (finding,)))
    if outcome.failed:
        level = logging.ERROR
    elif outcome.report is not None and not outcome.report.healthy:
        level = logging.WARNING
    else:
        level = logging.INFO
    log.log(level, "%s", json.dumps({"event": "gpu_check", **outcome.health()}))
    return outcome


# ----------------------------------------------------------------- the command


def render(report: Report) -> str:
    """The human-readable table ``rpworker gpu-check`` prints."""
    facts = report.as_dict()
    status = "healthy" if report.healthy else f"{len(report.findings)} problem(s)"
    image = facts["image_cuda"] or "none (CPU image: pass --cuda X.Y to compare)"
    source = f" (from {report.image_cuda_source})" if report.image_cuda_source else ""
    lines = [
        f"GPU check: {status}",
        f"driver: {facts['driver_version']} (CUDA {facts['cuda_driver_version']})",
        f"image CUDA: {image}{source}",
    ]
    keys = ("index", "name", "uuid", "memory_free_mb", "memory_total_mb", "compute_capability")
    rows = [["GPU", "name", "UUID", "free MiB", "total MiB", "compute", "MIG"]]
    rows += [[str(device[key]) for key in (*keys, "mig")] for device in facts["devices"]]
    if len(rows) > 1:
        widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
        lines.append("")
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
    for finding in report.findings:
        lines += [
            "",
            f"problem ({finding.code}): {finding.where}{finding.reason}",
            f"  fix: {finding.fix}",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``rpworker gpu-check``: 0 when healthy, 1 on a problem, 2 on a wrong setting."""
    parser = argparse.ArgumentParser(
        prog="rpworker gpu-check",
        description="Check the GPUs with NVML against the image's CUDA version and requirements.",
    )
    parser.add_argument(
        "--cuda",
        metavar="X.Y",
        help="CUDA version to check against (default: env RPBUILD_CUDA_VERSION or CUDA_VERSION)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        report = run_check(os.environ, args.cuda)
    except SettingError as error:
        print(f"rpworker gpu-check: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0 if report.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
