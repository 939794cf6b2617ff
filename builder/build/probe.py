"""Runs INSIDE a built image (stdlib only, any Python >= 3.10): report what is installed.

``verify`` sends this file's source to ``python -c`` in the image, so it sees the same
interpreter the image's ``python`` is, and prints one JSON object.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def _toolkit() -> str | None:
    if version := os.environ.get("CUDA_VERSION"):
        return version
    manifest = Path("/usr/local/cuda/version.json")
    if manifest.is_file():
        found = json.loads(manifest.read_text()).get("cuda", {}).get("version")
        return str(found) if found else None
    return None


def shadowed(site: Path, ld_library_path: str) -> str | None:
    """Libraries torch bundles (under ``site``) that a directory on LD_LIBRARY_PATH also
    holds: the loader would take those first, mixing two CUDA library versions."""
    wheels = [*site.glob("nvidia/*/lib/*.so*"), *site.glob("torch/lib/*.so*")]
    bundled = {path.name.split(".so")[0] for path in wheels}
    hits = [
        str(path)
        for directory in filter(None, ld_library_path.split(":"))
        for path in sorted(Path(directory).glob("*.so*"))
        if path.name.split(".so")[0] in bundled
    ]
    return ", ".join(hits) or None


def report() -> dict[str, str | None]:
    found: dict[str, str | None] = {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "cuda": _toolkit(),
        "torch": None,
        "torch-cuda": None,
        "runtime": None,
        "shadowed": None,
    }
    try:
        import torch  # type: ignore[import-not-found]

        found["torch"] = str(torch.__version__)
        found["torch-cuda"] = str(torch.version.cuda)
        site = Path(torch.__file__).resolve().parents[1]
        found["shadowed"] = shadowed(site, os.environ.get("LD_LIBRARY_PATH", ""))
    except ImportError:
        pass
    try:
        import rpworker

        found["runtime"] = str(rpworker.__version__)
    except ImportError:
        pass
    return found


if __name__ == "__main__":
    print(json.dumps(report(), sort_keys=True))
