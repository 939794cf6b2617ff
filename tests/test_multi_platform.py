"""arm64 and multi-platform builds: one image per platform, pushed as one manifest list.

The arm64 image builds on the arm64 stand-in under QEMU emulation (slow), and its truth
check runs there too; the list is assembled in the registry and verified like any push.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.build import compat
from builder.build import image as image_lib
from builder.build.spec import ImageOptions
from builder.registry.client import RegistryClient
from builder.registry.reference import parse_ref
from tests.fixtures.cosign_keys import CosignKeys
from tests.fixtures.docker_engine import CA_BUNDLE, STAND_IN_PYTHON, rpbuild
from tests.fixtures.registry import LocalRegistry
from tests.test_require_cuda import recorded_string

DOCKER = "/usr/bin/docker"
ENV_ONLY = Path(__file__).parent / "data" / "base_env_only.Dockerfile.j2"


SPEC = compat.resolve(ImageOptions(cuda="12.1"))


def test_an_arm64_default_tag_names_its_architecture() -> None:
    amd64 = image_lib.plan(ImageOptions(cuda="12.1", platform="linux/amd64"), SPEC)
    arm64 = image_lib.plan(ImageOptions(cuda="12.1", platform="linux/arm64"), SPEC)
    assert arm64.base.tags == (amd64.base.tags[0] + "-arm64",)


def test_one_dockerfile_for_several_platforms_takes_the_plain_tag() -> None:
    """The bake file's plan: one list for every platform, so no architecture suffix."""
    both = image_lib.plan(ImageOptions(cuda="12.1", platform="linux/amd64,linux/arm64"), SPEC)
    assert both.base.tags == image_lib.plan(ImageOptions(cuda="12.1"), SPEC).base.tags


def test_several_platforms_plan_one_image_each_under_tag_arch() -> None:
    options = ImageOptions(cuda="12.1", platform="linux/amd64,linux/arm64", tags=("r/x:1",))
    final, plans = image_lib.platform_plans(options, SPEC)
    assert final == ("r/x:1",)
    assert [(each.platform, plan.base.tags) for each, plan in plans] == [
        ("linux/amd64", ("r/x:1-amd64",)),
        ("linux/arm64", ("r/x:1-arm64",)),
    ]


def test_each_platform_gets_its_own_nvidia_require_cuda() -> None:
    """NVIDIA's arm64 12.1 image requires only cuda>=12.1; amd64's adds driver branches."""
    options = ImageOptions(cuda="12.1", platform="linux/amd64,linux/arm64")
    _, plans = image_lib.platform_plans(options, SPEC)
    amd64, arm64 = (plan.base.dockerfile for _, plan in plans)
    assert 'NVIDIA_REQUIRE_CUDA="cuda>=12.1 brand=' in amd64
    assert 'NVIDIA_REQUIRE_CUDA="cuda>=12.1" ' in arm64


def _flags(base: str) -> list[str]:
    flags = ["--cuda", "12.1", "--python", STAND_IN_PYTHON, "--base-image", base]
    return flags + (["--ca-bundle", str(CA_BUNDLE)] if CA_BUNDLE.is_file() else [])


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.arm64
def test_two_platforms_are_built_verified_pushed_and_signed_as_one_list(
    docker_builder: Any, stand_in_list: str, registry: LocalRegistry, cosign_keys: CosignKeys
) -> None:
    ref = f"{registry.host}/multi/base:both"
    platforms = "linux/amd64,linux/arm64"
    try:
        code, payload, output = rpbuild(
            "image", *_flags(stand_in_list), "--platform", platforms, "-t", ref,
            "--push", "--sign", str(cosign_keys.private),
        )  # fmt: skip
        assert code == 0, output
        assert payload["platforms"] == {
            "linux/amd64": [f"{ref}-amd64"],
            "linux/arm64": [f"{ref}-arm64"],
        }
        assert [image["verify"]["ok"] for image in payload["images"]] == [True, True]
        arch = subprocess.run(
            [DOCKER, "image", "inspect", "--format", "{{.Architecture}}", f"{ref}-arm64"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert arch.stdout.strip() == "arm64"

        published = payload["publish"]
        digest, manifest = RegistryClient(registry.host).manifest(parse_ref(ref))
        assert digest == published["digest"]
        served = {
            f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
            for m in manifest["manifests"]
        }
        assert served == {name: each["digest"] for name, each in published["platforms"].items()}

        code, report, output = rpbuild("verify", ref, "--key", str(cosign_keys.public))
        assert code == 0, output
        assert {image["platform"] for image in report["images"]} == set(platforms.split(","))
    finally:
        for tag in (f"{ref}-amd64", f"{ref}-arm64"):
            subprocess.run([DOCKER, "rmi", tag], capture_output=True)


def _image_config(tag: str) -> tuple[str, dict[str, str]]:
    done = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{json .}}", tag],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = json.loads(done.stdout)
    env = dict(item.split("=", 1) for item in found["Config"]["Env"])
    return found["Architecture"], env


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.arm64
def test_one_dockerfile_builds_each_platform_with_its_own_nvidia_require_cuda(
    docker_builder: Any, stand_in_list: str, tmp_path: Path
) -> None:
    """The bake file's Dockerfile for a 12.1 row on both platforms, built per platform as
    bake does: each image's Env holds NVIDIA's string for its own architecture."""
    options = ImageOptions(
        directory=tmp_path,
        cuda="12.1",
        python=STAND_IN_PYTHON,
        base_image=stand_in_list,
        platform="linux/amd64,linux/arm64",
        template=ENV_ONLY,
    )
    spec = compat.resolve(replace(options, platform="linux/amd64"))
    (tmp_path / "Dockerfile").write_text(image_lib.plan(options, spec).base.dockerfile)
    tag = f"rpbuild-test/require-by-arch:{uuid.uuid4().hex[:12]}"
    built = []
    try:
        for arch in ("amd64", "arm64"):
            built.append(f"{tag}-{arch}")
            done = subprocess.run(
                [DOCKER, "buildx", "build", "--platform", f"linux/{arch}", "--load",
                 "-t", built[-1], str(tmp_path)],
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            found_arch, env = _image_config(built[-1])
            assert found_arch == arch
            assert env["NVIDIA_REQUIRE_CUDA"] == recorded_string("12.1.1", arch)
    finally:
        for each in built:
            subprocess.run([DOCKER, "rmi", each], capture_output=True)
