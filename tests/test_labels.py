"""Labels: claims from the spec, a reproducible `created`, provenance from git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from builder import __version__
from builder.build import compat, labels
from builder.build.spec import ImageOptions


def test_claims_name_every_axis() -> None:
    spec = compat.resolve(ImageOptions(cuda="12.1", torch="2.3.1"))
    assert labels.claims(spec) == {
        "io.rpbuild.cuda": "12.1.1",
        "io.rpbuild.cudnn": "none",
        "io.rpbuild.python": "3.10",
        "io.rpbuild.torch": "2.3.1+cu121",
        "io.rpbuild.torch-cuda": "12.1",
        "io.rpbuild.ubuntu": "22.04",
        "io.rpbuild.flavor": "base",
        "io.rpbuild.runtime-version": __version__,
    }


def test_a_custom_base_claims_its_reference_not_an_ubuntu_or_cudnn() -> None:
    spec = compat.resolve(
        ImageOptions(cuda="12.1", python="3.11", base_image="local/debian:bookworm")
    )
    assert labels.claims(spec) == {
        "io.rpbuild.cuda": "12.1.1",
        "io.rpbuild.base-image": "local/debian:bookworm",
        "io.rpbuild.python": "3.11",
        "io.rpbuild.torch": "none",
        "io.rpbuild.torch-cuda": "none",
        "io.rpbuild.runtime-version": __version__,
    }
    assert labels.base_labels(spec, "v")["io.rpbuild.base"] == "local/debian:bookworm"


def test_created_follows_source_date_epoch() -> None:
    assert labels.created({"SOURCE_DATE_EPOCH": "1700000000"}) == "2023-11-14T22:13:20Z"
    assert labels.created({}).endswith("Z")


def test_provenance_reads_the_revision_and_remote_of_a_checkout(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    (tmp_path / "handler.py").write_text("")
    git("add", "handler.py")
    git("commit", "-q", "-m", "first")
    git("remote", "add", "origin", "https://git.example/me/worker.git")
    found = labels.provenance(tmp_path)
    assert found["org.opencontainers.image.revision"] == git("rev-parse", "HEAD")
    assert found["org.opencontainers.image.source"] == "https://git.example/me/worker.git"


def test_outside_a_checkout_only_created_is_set(tmp_path: Path) -> None:
    assert set(labels.provenance(tmp_path)) == {"org.opencontainers.image.created"}
