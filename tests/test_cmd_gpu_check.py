"""`rpbuild gpu-check IMAGE`: the docker command it runs, and the engine's refusals."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

RPBUILD = str(Path(sys.executable).with_name("rpbuild"))


def rpbuild(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    return subprocess.run([RPBUILD, *args], env=env, capture_output=True, text=True, timeout=120)


def stand_in_docker(directory: Path, stdout: str, stderr: str, status: int) -> str:
    """A `docker` first on PATH that prints its arguments and exits with ``status``."""
    script = directory / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "args: $*"\nprintf %b {stdout!r}\nprintf %b {stderr!r} >&2\nexit {status}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(directory)


def test_streams_the_check_and_passes_its_exit_status_on(tmp_path: Path) -> None:
    path = stand_in_docker(tmp_path, "GPU check: 1 problem(s)\n", "a warning\n", 1)
    result = rpbuild("gpu-check", "acme/worker:1", "--cuda", "12.1", "--json", path=path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "args: run --rm --gpus all --entrypoint rpworker acme/worker:1 gpu-check --cuda 12.1 "
        "--json",
        "GPU check: 1 problem(s)",
        "a warning",
    ]


def test_a_healthy_check_exits_0(tmp_path: Path) -> None:
    result = rpbuild("gpu-check", "acme/worker:1", path=stand_in_docker(tmp_path, "", "", 0))
    assert result.returncode == 0
    assert result.stdout.strip().endswith("acme/worker:1 gpu-check")


def test_an_image_without_the_runtime_is_named(tmp_path: Path) -> None:
    said = 'docker: Error response from daemon: exec: "rpworker": executable file not found\n'
    result = rpbuild("gpu-check", "debian:12", path=stand_in_docker(tmp_path, "", said, 127))
    assert result.returncode == 1
    assert "debian:12 has no `rpworker` command" in result.stderr
    assert "rpbuild image" in result.stderr


def test_an_engine_refusing_gpus_is_mapped_to_the_fix(tmp_path: Path) -> None:
    said = 'docker: Error response from daemon: could not select device driver "" '
    said += "with capabilities: [[gpu]].\n"
    result = rpbuild("gpu-check", "acme/worker:1", path=stand_in_docker(tmp_path, "", said, 125))
    assert result.returncode == 1
    assert "install the NVIDIA Container Toolkit" in result.stderr


@pytest.mark.docker
def test_an_engine_without_gpu_support_says_to_install_the_toolkit() -> None:
    if shutil.which("nvidia-container-runtime") is not None:
        pytest.skip("this engine has the NVIDIA runtime: it would run the check")
    result = rpbuild("gpu-check", "local/debian:bookworm")
    assert result.returncode == 1
    assert "install the NVIDIA Container Toolkit" in result.stderr
    assert "nvidia-ctk runtime configure --runtime=docker" in result.stderr
    assert "Traceback" not in result.stderr
