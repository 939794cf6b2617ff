"""Every rendered Dockerfile passes hadolint at the warning threshold.

The only ignore is DL3008 (unpinned apt packages), marked in the rendered text itself
by templates/macros.j2, which says why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.build import compat, image
from builder.build.matrix import MatrixRow, load_matrix
from builder.build.spec import GpuRequirements, ImageOptions

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def plan(options: ImageOptions) -> image.Plan:
    return image.plan(options, compat.resolve(options))


def _rows() -> list[ImageOptions]:
    """Each CUDA x Ubuntu row, with torch where the data has a wheel for it."""
    data = compat.load()
    rows = []
    for cuda in data.cuda:
        torch = next(
            (t.version for t in reversed(data.torch) if cuda.torch_index in t.indexes), None
        )
        for ubuntu in cuda.ubuntu:
            rows.append(ImageOptions(cuda=cuda.version, ubuntu=ubuntu, torch=torch))
    return rows


def hadolint(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HADOLINT, "--failure-threshold", "warning", "--no-color", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("options", _rows(), ids=lambda o: f"cuda{o.cuda}-ubuntu{o.ubuntu}")
def test_base_images_pass_hadolint(options: ImageOptions) -> None:
    result = hadolint(plan(options).base.dockerfile)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("row", load_matrix().rows, ids=lambda row: row.name)
def test_matrix_rows_pass_hadolint(row: MatrixRow) -> None:
    result = hadolint(image.plan(row.options, row.spec).base.dockerfile)
    assert result.returncode == 0, result.stdout


def test_one_dockerfile_for_two_architectures_passes_hadolint() -> None:
    """The bake file's shape where NVIDIA_REQUIRE_CUDA differs: a stage per architecture."""
    options = ImageOptions(cuda="12.1", platform="linux/amd64,linux/arm64")
    text = image.plan(options, compat.resolve(ImageOptions(cuda="12.1"))).base.dockerfile
    assert "FROM ${TARGETARCH}" in text
    result = hadolint(text)
    assert result.returncode == 0, result.stdout


def test_an_app_with_every_option_passes_hadolint(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("")
    (tmp_path / "requirements.txt").write_text("")
    options = ImageOptions(
        directory=tmp_path,
        cuda="12.1",
        python="3.11",
        system_packages=("ffmpeg",),
        ca_bundle=Path("ca.pem"),
        secrets=("id=pip_conf,src=x",),
        gpu=GpuRequirements(1, 1, "8.0"),
        user="worker",
    )
    for step in plan(options).steps:
        result = hadolint(step.dockerfile)
        assert result.returncode == 0, result.stdout


def test_hadolint_does_fail_a_bad_dockerfile() -> None:
    assert hadolint("FROM debian\nRUN apt-get install curl\n").returncode != 0
