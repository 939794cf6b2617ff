"""Lean images: no second cuDNN next to torch, an LD_LIBRARY_PATH that cannot shadow it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from builder import engine
from builder.build import compat, image, labels, probe, verify
from builder.build.image import BuiltImage
from builder.build.spec import ImageOptions
from builder.engine import ImageInfo, Layer
from builder.pipeline import layer_table


def test_torch_images_start_from_the_base_flavor_without_cudnn() -> None:
    spec = compat.resolve(ImageOptions(cuda="12.4", torch="2.4.1"))
    assert spec.from_ref == "nvidia/cuda:12.4.1-base-ubuntu22.04"
    assert labels.claims(spec)["io.rpbuild.cudnn"] == "none"
    chosen = compat.resolve(ImageOptions(cuda="12.4", torch="2.4.1", flavor="runtime"))
    assert chosen.from_ref == "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"
    without_torch = compat.resolve(ImageOptions(cuda="12.4"))
    assert without_torch.from_ref == "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"


def test_torch_images_keep_only_the_driver_on_ld_library_path() -> None:
    options = ImageOptions(cuda="12.1", torch="2.3.1")
    text = image.plan(options, compat.resolve(options)).base.dockerfile
    assert "ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64\n" in text
    assert text.index("LD_LIBRARY_PATH") < text.index("torch==")


def _library(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF")


def test_the_probe_finds_a_bundled_library_that_ld_library_path_would_shadow(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site-packages"
    _library(site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9")
    _library(site / "torch" / "lib" / "libc10.so")
    system = tmp_path / "usr" / "lib"
    _library(system / "libcudnn.so.9.1.0")
    _library(system / "libcuda.so.1")
    driver = tmp_path / "nvidia"
    _library(driver / "libcuda.so.1")
    assert probe.shadowed(site, f"{driver}") is None
    assert probe.shadowed(site, f"{driver}:{system}:") == str(system / "libcudnn.so.9.1.0")


def test_the_build_report_lists_each_layer_with_files_and_the_total() -> None:
    built = BuiltImage(
        "app",
        ("me/app:1",),
        "sha256:1",
        {},
        layers=(
            Layer(289_295_775, ""),
            Layer(0, "ENV A=1"),
            Layer(1_234, "/bin/sh -c python -m pip install   -r /app/requirements.txt"),
        ),
    )
    assert built.as_dict()["size"] == 289_297_009
    assert layer_table(built).splitlines() == [
        "layers of me/app:1:",
        " 289.3 MB  (base)",
        "   1.2 kB  /bin/sh -c python -m pip install -r /app/requirements.txt",
        " 289.3 MB  total",
    ]


def test_the_probe_runs_once_per_image_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler-only rebuild leaves the base's id as it was: its truth check reads the
    kept report instead of starting a container again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runs: list[str] = []

    def run_python(
        builder: engine.Builder, ref: str, script: str, platform: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        runs.append(ref)
        return subprocess.CompletedProcess([], 0, json.dumps({"python": "3.11"}) + "\n", "")

    monkeypatch.setattr(engine, "run_python", run_python)
    builder = engine.Builder("docker", ("docker", "build"))
    base = ImageInfo("sha256:aaa", {}, {}, ())
    assert verify.probe(builder, "base:1", base) == {"python": "3.11"}
    assert verify.probe(builder, "base:1", base) == {"python": "3.11"}
    assert verify.probe(builder, "app:1", ImageInfo("sha256:bbb", {}, {}, ())) == {"python": "3.11"}
    assert runs == ["base:1", "app:1"]
