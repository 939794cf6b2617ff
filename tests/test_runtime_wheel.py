"""The runtime wheel: explicit, built from sources reproducibly, or repacked from an install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from builder.build import runtime_wheel
from builder.errors import RuntimeWheelError

ROOT = Path(__file__).resolve().parents[1]


def test_an_explicit_wheel_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "rpbuild-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"not checked here")
    monkeypatch.setenv("RPBUILD_RUNTIME_WHEEL", str(wheel))
    assert runtime_wheel.locate() == wheel


def test_a_missing_explicit_wheel_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPBUILD_RUNTIME_WHEEL", str(tmp_path / "nope.whl"))
    with pytest.raises(RuntimeWheelError, match="is not a file"):
        runtime_wheel.locate()


def test_running_from_this_checkout_finds_it() -> None:
    assert runtime_wheel.source_root() == ROOT


@pytest.mark.venv
def test_unchanged_sources_give_a_byte_identical_wheel(tmp_path: Path) -> None:
    snapshot = tmp_path / "src"  # other edits to the checkout must not race the two builds
    snapshot.mkdir()
    for part in runtime_wheel._SOURCE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, snapshot / part)
        else:
            shutil.copy2(source, snapshot / part)
    first = runtime_wheel._build_from_source(snapshot, tmp_path / "a")
    second = runtime_wheel._build_from_source(snapshot, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert "rpworker/requirements.txt" in names
    assert "builder/templates/base.Dockerfile.j2" in names


@pytest.mark.venv
def test_an_installed_rpbuild_is_repacked_into_an_installable_wheel(tmp_path: Path) -> None:
    built = runtime_wheel._build_from_source(ROOT, tmp_path / "built")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(built)], check=True, timeout=600)
    script = (
        "from builder.build import runtime_wheel as r; "
        "assert r.source_root() is None, r.source_root(); print(r.locate())"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    repacked = Path(done.stdout.strip())
    target = tmp_path / "target"
    subprocess.run(
        [*pip, "--no-deps", "--target", str(target), str(repacked)], check=True, timeout=600
    )
    assert (target / "rpworker" / "requirements.txt").is_file()
    assert (target / "bin" / "rpworker").is_file()
