"""Rendered Dockerfiles: whole-file golden comparisons, determinism, user templates.

Update the golden files after a deliberate change with:
    RPBUILD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py
and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from builder.build import compat, image, render
from builder.build.spec import GpuRequirements, ImageOptions
from builder.errors import InputError

GOLDEN = Path(__file__).parent / "golden"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello"

ROWS: dict[str, dict[str, Any]] = {
    "base-cuda12.1": {"cuda": "12.1"},
    "base-cuda12.1-packages": {"cuda": "12.1", "system_packages": ("ffmpeg", "libsndfile1")},
    "base-cuda12.8-torch2.7.1-py3.13-devel-ubuntu24.04-ca": {
        "cuda": "12.8",
        "torch": "2.7.1",
        "python": "3.13",
        "flavor": "devel",
        "ubuntu": "24.04",
        "ca_bundle": Path("ca.pem"),
        "gpu": GpuRequirements(1, 20000, "8.0"),
    },
    "base-cuda11.8-torch2.1.2-py3.11-ubuntu22.04": {
        "cuda": "11.8",
        "torch": "2.1.2",
        "python": "3.11",
        "ubuntu": "22.04",
    },
}


def plan(options: ImageOptions) -> image.Plan:
    return image.plan(options, compat.resolve(options))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.Dockerfile"
    if os.environ.get("RPBUILD_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}: run with RPBUILD_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs; if intended, RPBUILD_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_base_images_render_as_their_golden_files(name: str) -> None:
    built = plan(ImageOptions(**ROWS[name]))
    assert built.app is None
    check_golden(name, built.base.dockerfile)


def test_one_dockerfile_for_two_architectures_renders_as_its_golden_file() -> None:
    """The bake file's for a 12.1 row on amd64 and arm64: NVIDIA's requirement differs."""
    spec = compat.resolve(ImageOptions(cuda="12.1"))
    built = image.plan(ImageOptions(cuda="12.1", platform="linux/amd64,linux/arm64"), spec)
    check_golden("base-cuda12.1-amd64-arm64", built.base.dockerfile)


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "hello"))


def test_an_app_renders_its_base_and_app_as_golden_files(hello: Path) -> None:
    options = ImageOptions(
        directory=hello,
        cuda="12.1",
        torch="2.3.1",
        system_packages=("ffmpeg", "libsndfile1"),
        secrets=("id=pip_conf,src=pip.conf",),
        gpu=GpuRequirements(min_gpus=2),
    )
    built = plan(options)
    assert built.app is not None
    assert built.app.dockerfile.startswith(f"FROM {built.base.tags[0]}\n")
    check_golden("app-hello-base", built.base.dockerfile)
    check_golden("app-hello", built.app.dockerfile)


def test_rendering_is_byte_identical_for_the_same_inputs(hello: Path) -> None:
    options = ImageOptions(directory=hello, cuda="12.6", torch="2.6.0")
    first, second = plan(options), plan(options)
    assert [s.dockerfile for s in first.steps] == [s.dockerfile for s in second.steps]


def test_the_layer_order_puts_torch_before_the_runtime_and_code_last(hello: Path) -> None:
    built = plan(ImageOptions(directory=hello, cuda="12.1", torch="2.3.1"))
    base = built.base.dockerfile
    assert base.index("torch==2.3.1+cu121") < base.index("rpbuild-runtime/requirements.txt")
    assert built.app is not None
    app = built.app.dockerfile
    assert app.index("pip install -r /app/requirements.txt") < app.index("COPY app/ /app/")
    assert app.rstrip().endswith('ENTRYPOINT ["tini", "--", "rpworker", "/app/handler.py"]')
    assert "CMD" not in app


def test_a_user_template_extends_ours_and_overrides_a_block(tmp_path: Path) -> None:
    template = tmp_path / "mine.Dockerfile.j2"
    template.write_text(
        '{% extends "base.Dockerfile.j2" %}\n'
        '{% block entrypoint %}\nENTRYPOINT ["rpworker", "/srv/main.py"]\n{% endblock %}\n'
    )
    text = plan(ImageOptions(cuda="12.1", template=template)).base.dockerfile
    assert text.endswith('ENTRYPOINT ["rpworker", "/srv/main.py"]\n')
    assert "RPBUILD_CUDA_VERSION=12.1.1" in text


def test_a_user_template_with_an_undefined_variable_is_an_input_error(tmp_path: Path) -> None:
    template = tmp_path / "broken.Dockerfile.j2"
    template.write_text("FROM {{ no_such_variable }}\n")
    with pytest.raises(InputError, match="no_such_variable"):
        plan(ImageOptions(cuda="12.1", template=template))


def test_every_template_variable_is_required() -> None:
    data = render.RenderInput(from_ref="x", labels={})
    text = render.render(render.APP_TEMPLATE, data)
    assert text.startswith("FROM x\n")
