"""The truth check's comparison: each claim against what the image reports."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from builder import __version__
from builder.build import compat, labels, verify
from builder.build.spec import BaseSpec, ImageOptions
from builder.engine import ImageInfo


def _spec(**options: Any) -> BaseSpec:
    return compat.resolve(ImageOptions(**options))


def _info(spec: BaseSpec, **label_overrides: str) -> ImageInfo:
    claimed = {**labels.claims(spec), **label_overrides}
    return ImageInfo("sha256:x", claimed, {"RPBUILD_CUDA_VERSION": spec.cuda.version}, ())


def _found(**overrides: str | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {
        "python": "3.10",
        "cuda": "12.1.1",
        "torch": "2.3.1+cu121",
        "torch-cuda": "12.1",
        "runtime": __version__,
    }
    return {**found, **overrides}


def test_an_image_that_matches_its_claims_passes() -> None:
    spec = _spec(cuda="12.1", torch="2.3.1")
    result = verify.compare(spec, _found(), _info(spec))
    assert result.ok, result.diff()


def test_pip_replacing_torch_is_reported_as_a_diff() -> None:
    spec = _spec(cuda="12.1", torch="2.3.1")
    result = verify.compare(
        spec, _found(torch="2.4.1+cu124", **{"torch-cuda": "12.4"}), _info(spec)
    )
    assert result.diff() == [
        "- torch: expected 2.3.1+cu121, found 2.4.1+cu124",
        "- torch.version.cuda: expected 12.1, found 12.4",
    ]


def test_torch_in_an_image_that_claims_none_is_a_mismatch() -> None:
    spec = _spec(cuda="12.1")
    result = verify.compare(spec, _found(), _info(spec))
    assert "- torch: expected none, found 2.3.1+cu121" in result.diff()


def test_a_label_that_lies_is_a_mismatch() -> None:
    spec = _spec(cuda="12.1", torch="2.3.1")
    result = verify.compare(spec, _found(), _info(spec, **{"io.rpbuild.python": "3.11"}))
    assert result.diff() == ["- label io.rpbuild.python: expected 3.10, found 3.11"]


def test_a_missing_toolkit_fails_on_nvidia_bases_but_not_on_custom_ones() -> None:
    nvidia = _spec(cuda="12.1", torch="2.3.1")
    assert (
        "- cuda toolkit: expected 12.1.1, found none"
        in verify.compare(nvidia, _found(cuda=None), _info(nvidia)).diff()
    )
    custom = _spec(cuda="12.1", torch="2.3.1", python="3.10", base_image="local/x")
    assert verify.compare(custom, _found(cuda=None), _info(custom)).ok


def test_the_probe_reports_this_interpreter() -> None:
    done = subprocess.run(
        [sys.executable, "-c", verify.probe_source()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert found["runtime"] == __version__


def test_a_library_on_ld_library_path_that_shadows_torchs_fails() -> None:
    spec = _spec(cuda="12.1", torch="2.3.1")
    shadow = "/usr/local/cuda/lib64/libcublas.so.12"
    result = verify.compare(spec, _found(shadowed=shadow), _info(spec))
    assert result.diff() == [
        f"- torch libraries shadowed by LD_LIBRARY_PATH: expected none, found {shadow}"
    ]
    assert verify.compare(spec, _found(shadowed=None), _info(spec)).ok
