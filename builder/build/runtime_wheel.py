"""The runtime wheel every image installs: the ``rpworker`` package alone.

The image's runtime must be the same code as the CLI that builds it, must never come
from the network, and must not carry the builder (no ``rpbuild`` command, no click,
Jinja2 or docker in images). So the wheel is packed here, in-process, from the
``rpworker`` package this rpbuild imports, whether it runs from a checkout or an
installed wheel: a distribution named ``rpworker`` with its own requirements and
one console script, ``rpworker``. Fixed timestamps and sorted entries make the
same sources give byte-identical wheels (and so a cached runtime layer); wheels
are cached by their content hash.

``RPBUILD_RUNTIME_WHEEL`` names a wheel to use instead (air-gapped CI, release
pipelines).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from pathlib import Path

import rpworker
from builder import __version__
from builder.errors import RuntimeWheelError

DIST = "rpworker"
WHEEL_NAME = f"{DIST}-{__version__}-py3-none-any.whl"
"""The runtime wheel's file name for this version, in the cache and in images."""
ENTRY_POINT = "rpworker = rpworker.launcher:main"
_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def rpbuild_cache() -> Path:
    """rpbuild's own cache directory (XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rpbuild"


def cache_dir() -> Path:
    return rpbuild_cache() / "runtime-wheels"


def package_files(root: Path) -> list[tuple[str, bytes]]:
    """(path inside the wheel, content) of every file of the package at ``root``, sorted."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root.parent)
        if path.is_dir() or _SKIPPED_DIRS & set(relative.parts):
            continue
        if path.suffix in _SKIPPED_SUFFIXES:
            continue
        files.append((relative.as_posix(), path.read_bytes()))
    return files


def _requirements(files: list[tuple[str, bytes]]) -> list[str]:
    text = dict(files)[f"{DIST}/requirements.txt"].decode()
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _metadata(requirements: list[str]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {DIST}",
        f"Version: {__version__}",
        "Summary: The worker runtime of rpbuild images: runs RunPod handlers unchanged.",
        "Requires-Python: >=3.10",
        *(f"Requires-Dist: {requirement}" for requirement in requirements),
    ]
    return "\n".join(lines) + "\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def wheel_bytes(root: Path) -> bytes:
    """The wheel of the package at ``root``: its files, metadata, entry point, RECORD."""
    files = package_files(root)
    info = f"{DIST}-{__version__}.dist-info"
    files += [
        (f"{info}/METADATA", _metadata(_requirements(files)).encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: rpbuild\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{info}/entry_points.txt", f"[console_scripts]\n{ENTRY_POINT}\n".encode()),
    ]
    records = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files]
    files.append((f"{info}/RECORD", ("\n".join([*records, f"{info}/RECORD,,"]) + "\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_DATE)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def locate() -> Path:
    """The runtime wheel for the ``rpworker`` this process imports (packed once per content)."""
    if explicit := os.environ.get("RPBUILD_RUNTIME_WHEEL"):
        path = Path(explicit)
        if not path.is_file():
            raise RuntimeWheelError(f"RPBUILD_RUNTIME_WHEEL={explicit} is not a file")
        return path
    data = wheel_bytes(Path(rpworker.__file__).parent)
    out = cache_dir() / hashlib.sha256(data).hexdigest()[:16]
    wheel = out / WHEEL_NAME
    if not wheel.is_file():
        out.mkdir(parents=True, exist_ok=True)
        partial = out / f".{WHEEL_NAME}.{os.getpid()}"
        partial.write_bytes(data)
        partial.replace(wheel)
    return wheel
