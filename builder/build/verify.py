"""The truth check: run the built image once and compare what it holds with its claims.

The claims are the spec the tag was made from; both the labels and the installed
software must match them. Catches pip silently installing another torch, Python
installed for another interpreter, or a stale runtime.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from builder import engine
from builder.build import labels, runtime_wheel
from builder.build.spec import BaseSpec
from builder.errors import VerifyError

SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.actual in (self.expected, SKIPPED)

    def as_dict(self) -> dict[str, str | bool]:
        return {"name": self.name, "expected": self.expected, "actual": self.actual, "ok": self.ok}


@dataclass(frozen=True)
class VerifyResult:
    image: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def diff(self) -> list[str]:
        return [
            f"- {c.name}: expected {c.expected}, found {c.actual}" for c in self.checks if not c.ok
        ]

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


def compare(spec: BaseSpec, found: dict[str, str | None], info: engine.ImageInfo) -> VerifyResult:
    """Pure: the checks for an image's probe report and its inspected config.

    The installed software and the labels are both held to the spec's claims.
    """
    claimed = labels.claims(spec)

    def claim(axis: str) -> str:
        return claimed[labels.PREFIX + axis]

    cuda_found = found.get("cuda")
    if cuda_found is None and spec.custom_base:
        cuda_found = SKIPPED  # a custom base may carry no toolkit files; nothing to compare
    checks = [
        Check("python", claim("python"), found.get("python") or "none"),
        Check("torch", claim("torch"), found.get("torch") or "none"),
        Check("torch.version.cuda", claim("torch-cuda"), found.get("torch-cuda") or "none"),
        Check("cuda toolkit", claim("cuda"), cuda_found or "none"),
        Check("runtime", claim("runtime-version"), found.get("runtime") or "none"),
        Check(
            "torch libraries shadowed by LD_LIBRARY_PATH", "none", found.get("shadowed") or "none"
        ),
        Check(
            "env RPBUILD_CUDA_VERSION",
            claim("cuda"),
            info.env.get("RPBUILD_CUDA_VERSION", "none"),
        ),
    ]
    checks += [
        Check(f"label {key}", value, info.labels.get(key, "none")) for key, value in claimed.items()
    ]
    return VerifyResult(info.id, tuple(checks))


def probe_source() -> str:
    return resources.files("builder.build").joinpath("probe.py").read_text(encoding="utf-8")


def verify(
    builder: engine.Builder,
    ref: str,
    info: engine.ImageInfo,
    spec: BaseSpec,
    platform: str | None = None,
) -> VerifyResult:
    """Run the probe in ``ref`` (inspected as ``info``); raise VerifyError with a diff
    when anything differs.

    An image for another ``platform`` runs only where the engine emulates it (binfmt).
    """
    result = compare(spec, probe(builder, ref, info, platform), info)
    if not result.ok:
        raise VerifyError(ref, result.diff())
    return result


def _kept_probe(image_id: str, source: str, platform: str | None) -> Path:
    script = hashlib.sha256(source.encode()).hexdigest()[:16]
    where = f"-{platform.replace('/', '-')}" if platform else ""
    name = f"{image_id.removeprefix('sha256:')}-{script}{where}.json"
    return runtime_wheel.rpbuild_cache() / "probes" / name


def probe(
    builder: engine.Builder, ref: str, info: engine.ImageInfo, platform: str | None = None
) -> dict[str, Any]:
    """What the image reports, kept by image id and probe script: an image id names its
    contents, so a rebuild that left the base as it was skips running it again."""
    source = probe_source()
    kept = _kept_probe(info.id, source, platform)
    if kept.is_file():
        found: dict[str, Any] = json.loads(kept.read_text(encoding="utf-8"))
        return found
    done = engine.run_python(builder, ref, source, platform)
    if done.returncode != 0:
        raise VerifyError(ref, [f"- probe: `python` in the image failed: {done.stderr[-800:]}"])
    found = json.loads(done.stdout.strip().splitlines()[-1])
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(found), encoding="utf-8")
    return found
