"""NVIDIA_REQUIRE_CUDA and the runtime's driver table agree with NVIDIA and with images/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.build import compat, driver_table
from builder.build.require_cuda import RequireCuda, RequireCudaError, parse
from builder.build.spec import ImageOptions

RECORDED = Path(__file__).parent / "data" / "nvidia_require_cuda.yaml"


def recorded() -> list[dict[str, Any]]:
    images: list[dict[str, Any]] = yaml.safe_load(RECORDED.read_text())["images"]
    return images


def recorded_string(version: str, arch: str) -> str:
    """NVIDIA's own NVIDIA_REQUIRE_CUDA for one release and architecture."""
    return next(
        str(image["require_cuda"])
        for image in recorded()
        if (image["version"], image["arch"]) == (version, arch)
    )


def test_every_release_and_architecture_in_the_data_has_a_recorded_string() -> None:
    have = {(r["version"], r["arch"]) for r in recorded()}
    wanted = {(c.version, arch) for c in compat.load().cuda for arch in c.architectures}
    assert wanted <= have, f"record NVIDIA's string for {sorted(wanted - have)}"


@pytest.mark.parametrize("image", recorded(), ids=lambda r: f"{r['version']}-{r['arch']}")
def test_the_data_renders_nvidias_string_byte_for_byte(image: dict[str, Any]) -> None:
    releases = {c.version: c for c in compat.load().cuda}
    if image["version"] not in releases:
        pytest.skip(f"{image['version']} is recorded but not in images/cuda.yaml")
    assert releases[image["version"]].require_for(image["arch"]).text() == image["require_cuda"]
    assert parse(image["require_cuda"]).text() == image["require_cuda"]


def test_a_rendered_image_carries_the_string_for_its_platform() -> None:
    [amd64, arm64] = [r for r in recorded() if r["version"] == "12.1.1"]
    for platform, record in (("linux/amd64", amd64), ("linux/arm64", arm64)):
        spec = compat.resolve(ImageOptions(cuda="12.1.1", platform=platform))
        assert spec.require_cuda == record["require_cuda"]


@pytest.mark.parametrize(
    "text",
    [
        "cuda>12.1",
        "cuda>=12.1 brand=tesla,driver>=470,driver<472",
        "cuda>=12.1 brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=525,driver<526",
    ],
)
def test_strings_outside_nvidias_shape_are_refused(text: str) -> None:
    with pytest.raises(RequireCudaError):
        parse(text)


def test_parts_render_in_nvidias_order() -> None:
    parts = RequireCuda("12.1", ("tesla", "nvidia"), (470, 525))
    assert parts.text() == (
        "cuda>=12.1 brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 "
        "brand=tesla,driver>=525,driver<526 brand=nvidia,driver>=525,driver<526"
    )


def test_the_runtimes_driver_table_is_generated_from_the_data() -> None:
    shipped = driver_table.runtime_path().read_text()
    assert shipped == driver_table.text(compat.load()), (
        "rpworker/cuda_drivers.json differs from images/cuda.yaml: run `rpbuild data refresh`"
    )
