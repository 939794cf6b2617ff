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
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
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

DEFAULT_COMPAT_DIR = "/usr/local/cuda/compat"
"""Where NVIDIA's base images install the cuda-compat package's libcuda.so.<driver>."""

_COMPAT_LIBRARY = re.compile(r"libcuda\.so\.(\d+\.\d+(?:\.\d+)?)")

DATACENTER_BRANDS = ("tesla", "nvidia")
"""NVML brands of datacenter GPUs (V100 reads Tesla; A100, H100 read NVIDIA): the only GPUs
where NVIDIA supports forward compatibility through cuda-compat."""


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
class ImageCuda:
    """The CUDA release the image was built for, and the cuda-compat libraries it carries."""

    release: str
    """As the image or option says it: ``12.8.1`` or ``12.8``."""
    source: str
    compat_driver: str | None = None
    """The driver version of the image's cuda-compat ``libcuda.so``; None without one."""
    compat_dir: str = DEFAULT_COMPAT_DIR

    @property
    def version(self) -> CudaVersion:
        return cuda_compat.parse(self.release)


@dataclass(frozen=True)
class Report:
    """The result of one check: facts (None when NVML did not start), findings and notes.

    Findings fail the check; notes say which compatibility rule let the image run and
    what that rule limits.
    """

    facts: GpuFacts | None
    image: ImageCuda | None
    findings: tuple[Finding, ...] = ()
    requirements: Requirements = field(default_factory=Requirements)
    notes: tuple[Finding, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """The findings in one line, short enough for the unhealthy ping."""
        text = " | ".join(finding.text() for finding in self.findings)
        return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."

    def as_dict(self) -> dict[str, Any]:
        facts, image = self.facts, self.image
        return {
            "healthy": self.healthy,
            "driver_version": _fact(facts and facts.driver_version),
            "cuda_driver_version": _fact(facts and _version_text(facts.cuda_driver_version)),
            "image_cuda": None if image is None else _version_text(image.version),
            "image_cuda_source": None if image is None else image.source,
            "cuda_compat": None if image is None else image.compat_driver,
            "requirements": {
                "min_gpus": self.requirements.min_gpus,
                "min_free_memory_mb": self.requirements.min_free_memory_mb,
                "min_compute_capability": _version_text(self.requirements.min_compute_capability),
            },
            "devices": [_device_dict(device) for device in (facts.devices if facts else ())],
            "findings": [_finding_dict(f) for f in self.findings],
            "notes": [_finding_dict(f) for f in self.notes],
        }


def _finding_dict(finding: Finding) -> dict[str, object]:
    return {
        "code": finding.code,
        "device": finding.device,
        "reason": finding.reason,
        "fix": finding.fix,
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
        "brand": _fact(device.brand),
    }


# ------------------------------------------------ comparing with the image's needs


def evaluate(
    facts: GpuFacts, image: ImageCuda | None, requirements: Requirements
) -> tuple[list[Finding], list[Finding]]:
    """Problems (and notes) that come from what the image needs rather than from NVML."""
    findings: list[Finding] = []
    notes: list[Finding] = []
    if not facts.devices:
        findings.append(
            Finding(
                "no-gpus",
                "no GPU is visible in this container",
                "start it with `--gpus all` (or `--gpus device=<index>`); NVIDIA_VISIBLE_DEVICES "
                "must name GPUs, not be void or none",
            )
        )
    if image is not None:
        problem, notes = _driver_rules(facts, image)
        findings += [problem] if problem else []
    findings.extend(_unmet_requirements(facts.devices, requirements))
    return findings, notes


def _driver_rules(facts: GpuFacts, image: ImageCuda) -> tuple[Finding | None, list[Finding]]:
    """NVIDIA's rules for running CUDA ``image`` on the host's driver, in NVIDIA's order.

    1. The driver supports the image's CUDA version: nothing to say.
    2. Minor-version compatibility: a driver of the same CUDA major, at least the major's
       minimum, runs it; PTX JIT and APIs newer than the driver need the release's driver.
    3. Forward compatibility: an older driver runs it through the image's cuda-compat
       libraries, on datacenter GPUs and on the driver branches the release supports.
    Otherwise the driver is too old: the problem; the rule that applied is a note.
    """
    results: list[Finding] = []
    family = cuda_compat.family(image.version[0])
    if family is not None and family.end_of_life:
        results.append(
            Finding(
                "cuda-end-of-life",
                f"CUDA {family.major} is end-of-life at NVIDIA, which deletes its image tags "
                "months later",
                "rebuild on a supported CUDA release (`rpbuild image --cuda 12.8` or newer)",
            )
        )
    driver, have = facts.driver_version, facts.cuda_driver_version
    need = image.version
    have_text, need_text = cuda_compat.text(have or need), cuda_compat.text(need)
    if have is None or have >= need:
        return None, results
    own = cuda_compat.release_driver(image.release)
    own_text = f">= {own}" if own else f"released with CUDA {need_text} or later"
    minimum = family.min_driver if family else None
    at_least_minimum = (
        driver is None
        or minimum is None
        or (cuda_compat.driver_key(driver) >= cuda_compat.driver_key(minimum))
    )
    if have[0] == need[0] and at_least_minimum:
        results.append(
            Finding(
                "minor-version-compatibility",
                f"driver {driver or '(version n/a)'} supports CUDA up to {have_text}; the image's "
                f"CUDA {need_text} runs on it by NVIDIA's minor-version compatibility (any CUDA "
                f"{need[0]}.x on a driver >= {minimum or 'n/a'}), except PTX JIT of code built "
                f"for CUDA {need_text} and APIs newer than {have_text}, which need the release's "
                f"own driver {own_text}",
                f"upgrade the host driver to {own_text} to lift that limit",
            )
        )
        return None, results
    problems = _forward_compat_problems(facts, image)
    upgrade = f">= {own or minimum}" if own or minimum else own_text
    if not problems:
        results.append(
            Finding(
                "forward-compatibility",
                f"driver {driver} (CUDA {have_text}) is older than CUDA {need[0]}.x's minimum "
                f"{minimum or 'n/a'}; the image runs by NVIDIA's forward compatibility: its "
                f"cuda-compat libraries ({image.compat_driver}, in {image.compat_dir}) on "
                f"datacenter GPUs, driver branch R{cuda_compat.branch(driver or '0')}",
                f"upgrade the host driver to {upgrade} to run without cuda-compat",
            )
        )
        return None, results
    below = f"CUDA {need[0]}.x needs a driver >= {minimum}" if minimum else "no minimum is known"
    problem = Finding(
        "driver-too-old",
        f"driver {driver or '(version n/a)'} supports CUDA up to {have_text}, the image needs "
        f"CUDA {need_text}: minor-version compatibility does not apply ({below}), nor does "
        f"forward compatibility ({'; '.join(problems)})",
        f"run on a host with driver {upgrade}, or rebuild the image for CUDA "
        f"{have_text} or older (`rpbuild image --cuda {have_text}`)",
    )
    return problem, results


def _forward_compat_problems(facts: GpuFacts, image: ImageCuda) -> list[str]:
    """Why cuda-compat cannot run this image here; empty when it can."""
    problems = []
    if image.compat_driver is None:
        problems.append(f"the image has no cuda-compat libcuda.so in {image.compat_dir}")
    others = sorted({device.brand or "n/a" for device in facts.devices} - set(DATACENTER_BRANDS))
    if others:
        problems.append(
            f"it needs datacenter GPUs and NVML reports brand {', '.join(others)} "
            f"(datacenter: {', '.join(DATACENTER_BRANDS)})"
        )
    branches = cuda_compat.forward_compat_branches(image.version)
    driver = facts.driver_version
    if driver is None:
        problems.append("the driver version is n/a")
    elif branches and cuda_compat.branch(driver) not in branches:
        listed = ", ".join(f"R{b}" for b in branches)
        problems.append(
            f"CUDA {cuda_compat.text(image.version)}'s cuda-compat supports driver branches "
            f"{listed}, not R{cuda_compat.branch(driver)}"
        )
    return problems


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


def image_cuda(environ: Mapping[str, str], cuda: str | None = None) -> ImageCuda | None:
    """The image's CUDA release (or the ``--cuda`` option's), with its cuda-compat libraries.

    None on a CPU image. ``RPWORKER_CUDA_COMPAT_DIR`` says where cuda-compat lies when the
    image installed CUDA somewhere else than NVIDIA's images do.
    """
    found = (
        [("--cuda", cuda)] if cuda else [(name, environ.get(name)) for name in IMAGE_CUDA_VARIABLES]
    )
    for name, value in found:
        if value:
            _version_setting(name, value, "a CUDA version such as 12.1.1")
            directory = environ.get("RPWORKER_CUDA_COMPAT_DIR") or DEFAULT_COMPAT_DIR
            return ImageCuda(value.strip(), name, compat_driver(Path(directory)), directory)
    return None


def compat_driver(directory: Path) -> str | None:
    """The driver version of the newest ``libcuda.so.<version>`` in ``directory``."""
    try:
        names = [path.name for path in directory.iterdir()]
    except OSError:
        return None
    versions = [m[1] for name in names if (m := _COMPAT_LIBRARY.fullmatch(name))]
    return max(versions, key=cuda_compat.driver_key, default=None)


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
    image = image_cuda(environ, cuda)
    needs = requirements(environ)
    facts, findings = probe()
    notes: list[Finding] = []
    if facts is not None:
        problems, notes = evaluate(facts, image, needs)
        findings.extend(problems)
    return Report(facts, image, tuple(findings), needs, tuple(notes))


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
        outcome = StartupCheck(fallback, Report(None, None, (finding,)))
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
    source = f" (from {facts['image_cuda_source']})" if facts["image_cuda_source"] else ""
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
    for kind, entries in (("problem", report.findings), ("note", report.notes)):
        for finding in entries:
            lines += [
                "",
                f"{kind} ({finding.code}): {finding.where}{finding.reason}",
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
