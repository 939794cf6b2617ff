"""The matrix as a `docker buildx bake` file (docker-bake.json) plus its build contexts.

Each row becomes a kebab-case target with its own context directory (the rendered
Dockerfile and the runtime wheel) next to the bake file, so `docker buildx bake -f
OUT/docker-bake.json` builds without rpbuild. Registry and tag prefix are bake
variables, so CI can retarget the same file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from builder.build import image, labels, runtime_wheel, tags
from builder.build.context import base_context
from builder.build.matrix import Matrix, MatrixRow
from builder.build.spec import BaseSpec
from builder.registry.lock import LockFile

BAKE_FILE = "docker-bake.json"
VARIABLES = ("REGISTRY", "TAG_PREFIX", "REVISION", "SOURCE")


def target(matrix: Matrix, row: MatrixRow, spec: BaseSpec) -> dict[str, Any]:
    """`spec` is the row's, with the base pinned when the lock file has it."""
    cache_from, cache_to = row.cache("${REGISTRY}", matrix.repository)
    return {
        "inherits": ["_common"],
        "context": row.name,
        "dockerfile": "Dockerfile",
        "tags": row.tags("${REGISTRY}", matrix.repository, "${TAG_PREFIX}"),
        "labels": labels.base_labels(spec, tags.axes(spec)),
        "platforms": list(row.platforms),
        "cache-from": [cache_from],
        "cache-to": [cache_to],
    }


def _pinned(row: MatrixRow, lock: LockFile | None) -> BaseSpec:
    return replace(row.spec, from_ref=lock.pin(row.spec.from_ref)) if lock else row.spec


def bake_file(
    matrix: Matrix, rows: Sequence[MatrixRow], lock: LockFile | None = None
) -> dict[str, Any]:
    """The bake definition: variables, `_common`, one target per row, groups."""
    oci = labels.OCI
    common = {
        "labels": {f"{oci}revision": "${REVISION}", f"{oci}source": "${SOURCE}"},
    }
    defaults = {"REGISTRY": matrix.registry, "TAG_PREFIX": "", "REVISION": "", "SOURCE": ""}
    return {
        "variable": {name: {"default": defaults[name]} for name in VARIABLES},
        "group": {
            "default": {"targets": [row.name for row in rows if row.default]},
            "all": {"targets": [row.name for row in rows]},
        },
        "target": {
            "_common": common,
            **{row.name: target(matrix, row, _pinned(row, lock)) for row in rows},
        },
    }


def write_bake(
    matrix: Matrix, rows: Sequence[MatrixRow], out: Path, lock: LockFile | None = None
) -> Path:
    """Render every row's Dockerfile into OUT/<name>/ with its context; write the bake file.

    Bases in `lock` are pinned to their digests (not checked against the registry here).
    """
    out.mkdir(parents=True, exist_ok=True)
    wheel = runtime_wheel.locate()
    for row in rows:
        plan = image.plan(replace(row.options, directory=out), _pinned(row, lock))
        context = out / row.name
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir()
        base_context(context, wheel, plan.base.dockerfile, image.RUNTIME_WHEEL)
    path = out / BAKE_FILE
    path.write_text(json.dumps(bake_file(matrix, rows, lock), indent=2) + "\n")
    return path
