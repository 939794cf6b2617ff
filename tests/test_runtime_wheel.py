"""The runtime wheel: rpworker alone, packed reproducibly, or named explicitly."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rpworker
from builder.build import runtime_wheel
from builder.errors import RuntimeWheelError

PACKAGE = Path(rpworker.__file__).parent


def test_an_explicit_wheel_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "rpworker-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"not checked here")
    monkeypatch.setenv("RPBUILD_RUNTIME_WHEEL", str(wheel))
    assert runtime_wheel.locate() == wheel


def test_a_missing_explicit_wheel_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPBUILD_RUNTIME_WHEEL", str(tmp_path / "nope.whl"))
    with pytest.raises(RuntimeWheelError, match="is not a file"):
        runtime_wheel.locate()


def test_the_wheel_holds_rpworker_alone_with_its_own_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RPBUILD_RUNTIME_WHEEL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    wheel = runtime_wheel.locate()
    assert wheel.name == runtime_wheel.WHEEL_NAME and wheel.name.startswith("rpworker-")
    archive = zipfile.ZipFile(wheel)
    tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"rpworker", f"rpworker-{rpworker.__version__}.dist-info"}
    assert "rpworker/_shim/runpod/__init__.py" in archive.namelist()
    assert not [name for name in archive.namelist() if name.endswith(".pyc")]
    info = f"rpworker-{rpworker.__version__}.dist-info"
    entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert entry_points == "[console_scripts]\nrpworker = rpworker.launcher:main\n"
    metadata = archive.read(f"{info}/METADATA").decode()
    assert "Name: rpworker\n" in metadata and "Requires-Dist: aiohttp" in metadata
    assert "click" not in metadata.lower() and "jinja2" not in metadata.lower()
    assert runtime_wheel.locate() == wheel  # cached by content


def test_the_same_sources_give_a_byte_identical_wheel(tmp_path: Path) -> None:
    first = runtime_wheel.wheel_bytes(PACKAGE)
    (tmp_path / "rpworker").mkdir()
    for name, data in runtime_wheel.package_files(PACKAGE):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (tmp_path / "rpworker" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "rpworker" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"stale")
    assert runtime_wheel.wheel_bytes(tmp_path / "rpworker") == first


@pytest.mark.venv
def test_the_wheel_installs_the_runtime_without_rpbuild(tmp_path: Path) -> None:
    wheel = tmp_path / runtime_wheel.WHEEL_NAME
    wheel.write_bytes(runtime_wheel.wheel_bytes(PACKAGE))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    requirements = PACKAGE / "requirements.txt"
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(requirements)], check=True, timeout=600)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=600)
    assert (venv / "bin" / "rpworker").is_file()
    assert not (venv / "bin" / "rpbuild").exists()
    script = "import rpworker.launcher, importlib.util as u; print(u.find_spec('builder'))"
    done = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert done.stdout.strip() == "None"
