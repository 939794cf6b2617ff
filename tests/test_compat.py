"""Compatibility data: the shipped YAML loads, resolution picks rows, refusals name fixes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from builder.build import compat
from builder.build.spec import BaseSpec, ImageOptions
from builder.errors import DataError, IncompatibleChoiceError


def resolve(**options: Any) -> BaseSpec:
    return compat.resolve(ImageOptions(**options))


def refusal(**options: Any) -> IncompatibleChoiceError:
    with pytest.raises(IncompatibleChoiceError) as caught:
        resolve(**options)
    return caught.value


def test_the_shipped_data_covers_torch_21_to_215_and_cuda_118_to_13() -> None:
    data = compat.load()
    versions = [t.version for t in data.torch]
    assert versions[0] == "2.1.0" and versions[-1].startswith("2.15")
    indexes = {i for t in data.torch for i in t.indexes}
    assert {"cu118", "cu121", "cu124", "cu126", "cu128", "cu129", "cu130", "cu132"} <= indexes
    assert {"12.9", "13.0", "13.1", "13.2"} <= {c.major_minor for c in data.cuda}
    assert "3.14" in data.pythons
    assert [c.major_minor for c in data.cuda if c.end_of_life] == ["11.8"]
    assert [c.version for c in data.cuda] == sorted(
        (c.version for c in data.cuda), key=compat.version_key
    )


def test_a_major_minor_resolves_to_the_newest_patch_release() -> None:
    spec = resolve(cuda="12.1")
    assert spec.cuda.version == "12.1.1"
    assert spec.from_ref == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    assert (spec.python, spec.python_source, spec.torch) == ("3.10", "distro", None)


def test_newer_releases_use_the_cudnn_tag_without_a_major() -> None:
    spec = resolve(cuda="12.8", flavor="devel", ubuntu="24.04")
    assert spec.from_ref == "nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04"
    assert spec.cuda.cudnn_version == "9"


def test_torch_comes_from_the_index_of_the_base_cuda() -> None:
    spec = resolve(cuda="12.4", torch="2.5")
    assert spec.torch is not None
    assert spec.torch.local_version == "2.5.1+cu124"
    assert spec.torch.cuda == "12.4"
    assert spec.torch.index_url.endswith("/cu124")


def test_a_python_not_the_distros_comes_from_deadsnakes() -> None:
    assert resolve(cuda="12.1", python="3.11").python_source == "deadsnakes"
    assert resolve(cuda="12.6", ubuntu="24.04").python == "3.12"


def test_a_custom_base_without_python_is_refused_naming_the_flag() -> None:
    error = refusal(cuda="12.1", base_image="local/debian:bookworm")
    assert str(error.where) == "--python"
    assert "default Python of the base image local/debian:bookworm is unknown" in str(error)
    assert error.fixes == ["--python 3.10", "--python 3.11"]


def test_a_custom_ubuntu_base_named_by_ubuntu_takes_that_releases_python() -> None:
    spec = resolve(cuda="12.8", ubuntu="24.04", base_image="me/cuda:ubuntu24.04")
    assert (spec.python, spec.python_source) == ("3.12", "distro")


def test_a_custom_base_takes_python_from_its_own_distro() -> None:
    spec = resolve(cuda="12.1", python="3.11", base_image="local/debian:bookworm")
    assert (spec.python_source, spec.custom_base) == ("distro", True)
    assert spec.from_ref == "local/debian:bookworm"


def test_torch_without_a_wheel_for_the_cuda_names_both_ways_out() -> None:
    error = refusal(cuda="12.8", torch="2.1.2")
    assert str(error.where) == "--cuda"
    assert error.format_message() == (
        "12.8: torch 2.1.2 has no wheel for CUDA 12.8 (cu128); "
        "its CUDA 12 wheels are cu121; choose --torch 2.7.0 or newer, or --cuda 12.1"
    )


def test_torch_too_new_for_an_older_cuda_names_its_wheels() -> None:
    error = refusal(cuda="12.1", torch="2.9.1")
    assert "no wheel for CUDA 12.1 (cu121); its CUDA 12 wheels are cu126, cu128" in str(error)
    assert error.fixes == ["--torch 2.5.1", "--cuda 12.6"]


def test_an_unknown_cuda_names_the_nearest_releases() -> None:
    error = refusal(cuda="12.2")
    assert error.fixes == ["--cuda 12.1", "--cuda 12.4"]


def test_an_ubuntu_without_that_cuda_image_is_refused() -> None:
    error = refusal(cuda="12.1", ubuntu="24.04")
    assert str(error.where) == "--ubuntu"
    assert error.fixes == ["--ubuntu 22.04"]


def test_a_python_the_torch_release_lacks_is_refused() -> None:
    error = refusal(cuda="12.4", torch="2.5.1", python="3.13")
    assert "torch 2.5.1" in str(error)
    assert error.fixes == ["--python 3.11", "--python 3.12"]


def test_a_python_older_than_the_runtime_needs_is_refused() -> None:
    error = refusal(cuda="12.1", python="3.9")
    assert "needs 3.10 or newer" in str(error)


def test_a_python_neither_the_distro_nor_deadsnakes_has_names_the_ubuntu() -> None:
    cuda, torch, python = _documents()
    python["ubuntu"][0]["deadsnakes"] = ["3.11", "3.12"]
    data = compat.parse(cuda, torch, python)
    with pytest.raises(IncompatibleChoiceError) as caught:
        compat.resolve(ImageOptions(cuda="12.1", ubuntu="22.04", python="3.13"), data)
    assert "not available for Ubuntu 22.04 (distro or deadsnakes)" in str(caught.value)
    assert caught.value.fixes == ["--python 3.11", "--python 3.12"]


def test_python_314_installs_on_every_ubuntu_release() -> None:
    for ubuntu in ("22.04", "24.04"):
        spec = resolve(cuda="13.0", ubuntu=ubuntu, python="3.14")
        assert spec.python_source == "deadsnakes"


def test_torch_215_has_no_python_310_wheels() -> None:
    error = refusal(cuda="13.2", torch="2.15", python="3.10")
    assert "torch 2.15.0" in str(error)


def test_torch_212_and_later_dropped_cu128() -> None:
    error = refusal(cuda="12.8", torch="2.12")
    assert error.fixes == ["--torch 2.11.0", "--cuda 12.6"]


def test_require_cuda_follows_the_target_platform() -> None:
    assert resolve(cuda="12.1", platform="linux/arm64").require_cuda == "cuda>=12.1"
    assert resolve(cuda="12.1").require_cuda.startswith("cuda>=12.1 brand=tesla,driver>=470")
    error = refusal(cuda="12.1", platform="linux/amd64,linux/arm64")
    assert str(error.where) == "--platform"
    assert "differs between these platforms" in str(error)
    assert refusal(cuda="12.8", platform="linux/ppc64le").fixes == [
        "--platform linux/amd64",
        "--platform linux/arm64",
    ]


def test_an_unknown_torch_release_is_refused() -> None:
    error = refusal(cuda="12.1", torch="1.13")
    assert str(error.where) == "--torch"


def test_every_cuda_ubuntu_row_resolves() -> None:
    data = compat.load()
    for cuda in data.cuda:
        for ubuntu in cuda.ubuntu:
            spec = resolve(cuda=cuda.version, ubuntu=ubuntu)
            assert spec.python in data.pythons


def _documents() -> tuple[Any, Any, Any]:
    return tuple(
        copy.deepcopy(compat.load_document(name))
        for name in ("cuda.yaml", "torch.yaml", "python.yaml")
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c, t, p: c["releases"][0].pop("require_cuda"), "'require_cuda'"),
        (lambda c, t, p: c["drivers"].update({"11.1.0": 455.23}), "must be a quoted string"),
        (lambda c, t, p: c["families"].pop(0), "has no entry in 'families'"),
        (
            lambda c, t, p: c["releases"][2]["require_cuda"]["amd64"].update(brands="x"),
            "brands 'x' is not in 'brands'",
        ),
        (lambda c, t, p: c["releases"][0].update(version="12.1"), "major.minor.patch"),
        (lambda c, t, p: c["releases"][0].update(ubuntu=["18.04"]), "unknown Ubuntu"),
        (lambda c, t, p: t.update(index_url="https://example.invalid/"), "{index}"),
        (lambda c, t, p: t["releases"][0].update(python="3.11"), "'python'"),
        (lambda c, t, p: p.update(ubuntu=[]), "'ubuntu'"),
    ],
)
def test_malformed_data_is_refused_naming_the_field(edit: Any, message: str) -> None:
    cuda, torch, python = _documents()
    edit(cuda, torch, python)
    with pytest.raises(DataError, match=message.replace("{", r"\{").replace("}", r"\}")):
        compat.parse(cuda, torch, python)


def test_a_torch_that_dropped_an_index_points_back_to_the_last_release_with_it() -> None:
    error = refusal(cuda="11.8", torch="2.8.0")
    assert error.fixes == ["--torch 2.7.1", "--cuda 12.6"]
