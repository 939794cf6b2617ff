"""Lean images: no second cuDNN next to torch, an LD_LIBRARY_PATH that cannot shadow it."""

from __future__ import annotations

from pathlib import Path

from builder import __version__
from builder.build import compat, image, labels, probe, verify
from builder.build.spec import ImageOptions
from builder.engine import ImageInfo


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


def test_a_shadowed_torch_library_fails_the_truth_check() -> None:
    spec = compat.resolve(ImageOptions(cuda="12.1", torch="2.3.1"))
    info = ImageInfo("sha256:x", labels.claims(spec), {"RPBUILD_CUDA_VERSION": "12.1.1"}, ())
    found: dict[str, str | None] = {
        "python": "3.10",
        "cuda": "12.1.1",
        "torch": "2.3.1+cu121",
        "torch-cuda": "12.1",
        "runtime": __version__,
        "shadowed": "/usr/local/cuda/lib64/libcublas.so.12",
    }
    result = verify.compare(spec, found, info)
    assert result.diff() == [
        "- torch libraries shadowed by LD_LIBRARY_PATH: expected none, "
        "found /usr/local/cuda/lib64/libcublas.so.12"
    ]
    assert verify.compare(spec, {**found, "shadowed": None}, info).ok
