"""Find or build this package's own wheel, which every image installs as its runtime.

The image's runtime must be the same code as the CLI that builds it, and must never
come from the network. In order:

1. ``RPBUILD_RUNTIME_WHEEL``: an explicit wheel file (air-gapped CI, release pipelines).
2. A source tree (a checkout, or an editable install found through PEP 610
   ``direct_url.json``; not a non-editable install's source, which may have moved on
   since): ``pip wheel`` of a clean copy, with SOURCE_DATE_EPOCH fixed so
   unchanged sources give byte-identical wheels (and so a cached runtime layer).
   Wheels are cached by a hash of the sources.
3. An install from a wheel: the installed files (listed in the dist's RECORD) are
   packed back into a wheel.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from builder import __version__
from builder.errors import RuntimeWheelError

DIST = "rpbuild"
WHEEL_NAME = f"{DIST}-{__version__}-py3-none-any.whl"
"""The runtime wheel's file name for this version, in a repacked wheel and in images."""
_REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip can hold
_SOURCE_PARTS = ("pyproject.toml", "README.md", "builder", "rpworker", "templates", "images")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def rpbuild_cache() -> Path:
    """rpbuild's own cache directory (XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rpbuild"


def cache_dir() -> Path:
    return rpbuild_cache() / "runtime-wheels"


def source_root() -> Path | None:
    """The project directory this code runs from, when it runs from sources."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "rpworker").is_dir():
        return here
    try:
        raw = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    direct = json.loads(raw) if raw else {}
    url = direct.get("url", "")
    if direct.get("dir_info", {}).get("editable") and url.startswith("file://"):
        root = Path(url.removeprefix("file://"))
        if (root / "pyproject.toml").is_file():
            return root
    return None


def _source_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for part in _SOURCE_PARTS:
        path = root / part
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _build_from_source(root: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="rpbuild-src-") as tmp:
        copy = Path(tmp) / "src"
        copy.mkdir()
        for part in _SOURCE_PARTS:
            path = root / part
            if path.is_dir():
                shutil.copytree(path, copy / part, ignore=_SKIP)
            elif path.is_file():
                shutil.copy2(path, copy / part)
        env = {**os.environ, "SOURCE_DATE_EPOCH": _REPRODUCIBLE_EPOCH}
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(copy)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    wheels = sorted(out.glob(f"{DIST}-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeWheelError(
            f"could not build the runtime wheel from {root}:\n{done.stderr[-2000:]}\n"
            "Fix the build, or point RPBUILD_RUNTIME_WHEEL at a built rpbuild wheel."
        )
    return wheels[-1]


def _installed_hash() -> str:
    record = metadata.distribution(DIST).read_text("RECORD") or __version__
    return "installed-" + hashlib.sha256(record.encode()).hexdigest()[:16]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _repack_installed(out: Path) -> Path:
    """Pack an installed (non-editable) rpbuild back into a wheel from its RECORD."""
    dist = metadata.distribution(DIST)
    files = [f for f in dist.files or [] if not str(f).startswith("..")]
    if not files:
        raise RuntimeWheelError(
            "rpbuild is installed without a file list; set RPBUILD_RUNTIME_WHEEL to a wheel"
        )
    info = next(str(f).split("/")[0] for f in files if str(f).endswith(".dist-info/METADATA"))
    wheel = out / WHEEL_NAME
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files, key=str):
            name = str(file)
            if name.endswith((".pyc", "/RECORD", "/INSTALLER", "/REQUESTED", "/direct_url.json")):
                continue
            data = Path(str(file.locate())).read_bytes()
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, data)
            records.append(f"{name},{_record_hash(data)},{len(data)}")
        records.append(f"{info}/RECORD,,")
        entry = zipfile.ZipInfo(f"{info}/RECORD", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(entry, "\n".join(records) + "\n")
    return wheel


def locate() -> Path:
    """The runtime wheel for this rpbuild version (built once per source state)."""
    if explicit := os.environ.get("RPBUILD_RUNTIME_WHEEL"):
        path = Path(explicit)
        if not path.is_file():
            raise RuntimeWheelError(f"RPBUILD_RUNTIME_WHEEL={explicit} is not a file")
        return path
    root = source_root()
    key = _source_hash(root) if root else _installed_hash()
    out = cache_dir() / key
    if cached := sorted(out.glob(f"{DIST}-*.whl")):
        return cached[-1]
    out.mkdir(parents=True, exist_ok=True)
    return _build_from_source(root, out) if root else _repack_installed(out)
