"""Signed images with an SBOM, checked from the registry alone (`rpbuild verify`).

The registry tests push the session's base image, sign it with a fresh cosign key and
attach its SBOM; verification then needs nothing but the registry and the public key.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from builder.build.tags import base_id
from builder.commands.cli import main
from builder.registry.trust import checks
from tests.fixtures.cosign_keys import CosignKeys
from tests.fixtures.docker_engine import rpbuild
from tests.fixtures.registry import LocalRegistry

DOCKER = "/usr/bin/docker"


def _bom(**packages: str) -> dict[str, Any]:
    return {
        "components": [
            {"name": name, "version": version, "purl": f"pkg:pypi/{name}@{version}"}
            for name, version in packages.items()
        ]
    }


LABELS = {
    "io.rpbuild.cuda": "12.1.1",
    "io.rpbuild.cudnn": "8",
    "io.rpbuild.flavor": "runtime",
    "io.rpbuild.ubuntu": "22.04",
    "io.rpbuild.python": "3.11",
    "io.rpbuild.torch": "2.3.1+cu121",
    "io.rpbuild.runtime-version": "0.1.0",
}
TAG = "cuda12.1.1-cudnn8-runtime-ubuntu22.04-py3.11-torch2.3.1-cu121-rpbuild0.1.0"


def test_labels_that_agree_with_tag_platform_and_sbom_pass() -> None:
    config = {"architecture": "arm64", "config": {"Labels": LABELS}}
    bom = _bom(rpworker="0.1.0", torch="2.3.1+cu121")
    found = checks(f"{TAG}-arm64", "linux/arm64", config, bom)
    assert [c.name for c in found] == [
        "SBOM lists packages",
        "SBOM runtime",
        "SBOM torch",
        "tag",
        "architecture",
    ]
    assert all(c.ok for c in found)


@pytest.mark.parametrize(
    ("tag", "architecture", "packages", "failing"),
    [
        (TAG, "arm64", {"rpworker": "0.1.0", "torch": "2.4.0+cu121"}, "SBOM torch"),
        (TAG, "arm64", {"torch": "2.3.1+cu121"}, "SBOM runtime"),
        (
            TAG.replace("py3.11", "py3.10"),
            "arm64",
            {"rpworker": "0.1.0", "torch": "2.3.1+cu121"},
            "tag",
        ),
        (TAG, "amd64", {"rpworker": "0.1.0", "torch": "2.3.1+cu121"}, "architecture"),
    ],
)
def test_a_label_that_lies_fails_its_check(
    tag: str, architecture: str, packages: dict[str, str], failing: str
) -> None:
    config = {"architecture": architecture, "config": {"Labels": LABELS}}
    found = checks(tag, "linux/arm64", config, _bom(**packages))
    assert [c.name for c in found if not c.ok] == [failing]


def test_a_custom_base_tag_must_name_that_base() -> None:
    """The tag's hash stands for io.rpbuild.base-image: another base's tag fails."""
    custom = {"io.rpbuild.cuda": "12.1.1", "io.rpbuild.python": "3.11"}
    custom |= {"io.rpbuild.torch": "none", "io.rpbuild.runtime-version": "0.1.0"}

    def tag_ok(reference: str, tag: str) -> bool:
        config = {"config": {"Labels": {**custom, "io.rpbuild.base-image": reference}}}
        return next(c for c in checks(tag, None, config, _bom()) if c.name == "tag").ok

    tag = f"custom-{base_id('local/debian:bookworm')}-cuda12.1.1-py3.11-torchnone-rpbuild0.1.0"
    assert tag_ok("local/debian:bookworm", tag)
    assert not tag_ok("local/debian:trixie", tag)


def test_verify_needs_a_key_or_a_keyless_identity() -> None:
    result = CliRunner().invoke(main, ["verify", "127.0.0.1:1/x:1"])
    assert result.exit_code == 2
    assert "give --key PUB, or (keyless)" in result.output


@pytest.mark.parametrize("command", [["image"], ["matrix", "build"]])
def test_sign_without_push_is_refused_before_anything_runs(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command, "--sign", "cosign.key"])
    assert result.exit_code == 2
    assert "--sign describes a push: add --push" in result.output


@pytest.mark.docker
@pytest.mark.registry
def test_signed_image_verifies_and_a_tampered_tag_does_not(
    gpu_base: dict[str, Any], registry: LocalRegistry, cosign_keys: CosignKeys
) -> None:
    local = gpu_base["images"][-1]["tags"][0]
    ref = f"{registry.host}/signed/{local.split('/', 1)[1]}"
    subprocess.run([DOCKER, "tag", local, ref], check=True)
    try:
        code, pushed, output = rpbuild("push", ref, "--sign", str(cosign_keys.private))
        assert code == 0, output
        assert pushed["signed"] is True

        code, report, output = rpbuild("verify", ref, "--key", str(cosign_keys.public))
        assert code == 0, output
        assert report["digest"] == pushed["digest"]
        names = {c["name"]: c["actual"] for c in report["images"][0]["checks"]}
        assert names["tag"] in ref
        assert (
            names["SBOM runtime"] == gpu_base["images"][-1]["labels"]["io.rpbuild.runtime-version"]
        )

        # Another image pushed under the same tag: the registry serves an unsigned digest.
        subprocess.run([DOCKER, "tag", "local/debian:bookworm", ref], check=True)
        code, _, output = rpbuild("push", ref)
        assert code == 0, output
        code, refused, _ = rpbuild("verify", ref, "--key", str(cosign_keys.public))
        assert code == 1
        assert "has no valid signature" in refused["error"]
    finally:
        subprocess.run([DOCKER, "rmi", ref], capture_output=True)
