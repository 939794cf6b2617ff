"""End to end on the stand-in: weights baked through the cache mount, run: steps with secrets."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from builder import engine
from tests.fixtures.docker_engine import base_flags, rpbuild
from tests.fixtures.file_server import FileServer, HubRepo

pytestmark = pytest.mark.docker


def _in_image(builder: engine.Builder, tag: str, script: str) -> str:
    done = subprocess.run(
        [
            builder.client,
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            tag,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_weights_are_baked_verified_and_never_downloaded_again(
    docker_builder: engine.Builder,
    gpu_base: dict[str, Any],
    seed_app: Path,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    model = secrets.token_bytes(300_000)  # new bytes, so no earlier run's cache holds them
    file_server.files["/f/model.bin"] = model
    hub_file = secrets.token_bytes(50_000)
    file_server.repos["org/model"] = HubRepo(
        secrets.token_hex(20),  # a commit names its files: the cache keeps listings by commit
        {"model.safetensors": hub_file, "config.json": secrets.token_bytes(9), "notes.txt": b"x"},
        lfs={"model.safetensors"},
        token="hf_build_token",
    )
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)
    monkeypatch.setenv("HF_TOKEN", "hf_build_token")
    token = "rpbuild-secret-" + secrets.token_hex(12)
    (tmp_path / "token").write_text(token)
    (seed_app / "rpbuild.yaml").write_text(
        f"""
weights:
  - url: {file_server.url}/f/model.bin
    sha256: "{hashlib.sha256(model).hexdigest()}"
    path: /models/model.bin
  - hf: org/model
    files: ["*.safetensors", "*.json"]
    path: /models/org
run:
  - command: echo {secrets.token_hex(8)} && sha256sum /run/secrets/token > /opt/token.sha256
    secrets: [token]
"""
    )
    tag = f"rpbuild-test/weights:{secrets.token_hex(4)}"
    flags = [
        *base_flags(),
        "--network",
        "host",
        "-t",
        tag,
        "--secret",
        f"id=token,src={tmp_path / 'token'}",
    ]
    code, payload, output = rpbuild("image", str(seed_app), *flags)
    assert code == 0, output
    try:
        app = payload["images"][-1]
        assert app["size"] == sum(layer["size"] for layer in app["layers"])
        (fetched,) = [x for x in app["layers"] if "--name=weights[0]" in x["created_by"]]
        assert len(model) <= fetched["size"] < len(model) + 10_000  # the file, in a layer alone
        # pip's cache and the weights' cache are mounts: nothing of them is in a layer.
        assert _in_image(docker_builder, tag, "find /root/.cache -type f | wc -l").strip() == "0"
        sums = _in_image(
            docker_builder,
            tag,
            "sha256sum /models/model.bin /models/org/model.safetensors; ls /models/org; "
            "cat /opt/token.sha256",
        )
        assert f"{hashlib.sha256(model).hexdigest()}  /models/model.bin" in sums
        assert f"{hashlib.sha256(hub_file).hexdigest()}  /models/org/model.safetensors" in sums
        assert "config.json\nmodel.safetensors\n" in sums
        assert "notes.txt" not in sums
        assert hashlib.sha256(token.encode()).hexdigest() in sums
        assert file_server.downloads() == 3
        seen = sum(file_server.requests.values())

        handler = seed_app / "handler.py"
        handler.write_text(handler.read_text() + "\n# a handler-only change\n")
        (seed_app / "requirements.txt").write_text("# a requirements change\n")
        code, _, output = rpbuild("image", str(seed_app), *flags)
        assert code == 0, output
        assert sum(file_server.requests.values()) == seen  # not one request: the layers held

        # New paths rerun both steps; the cache mount has the files by digest.
        config = seed_app / "rpbuild.yaml"
        config.write_text(config.read_text().replace("path: /models/", "path: /moved/"))
        code, _, output = rpbuild("image", str(seed_app), *flags)
        assert code == 0, output
        assert file_server.downloads() == 3
        assert output.count("from the build cache") == 3
        moved = _in_image(docker_builder, tag, "sha256sum /moved/model.bin")
        assert moved.startswith(hashlib.sha256(model).hexdigest())

        saved = subprocess.run(
            [docker_builder.client, "save", tag], capture_output=True, timeout=300, check=True
        )
        assert token.encode() not in saved.stdout
        assert b"hf_build_token" not in saved.stdout
    finally:
        subprocess.run([docker_builder.client, "rmi", "-f", tag], capture_output=True, check=False)


def test_a_checksum_mismatch_fails_the_build_naming_the_entry(
    docker_builder: engine.Builder,
    gpu_base: dict[str, Any],
    seed_app: Path,
    file_server: FileServer,
) -> None:
    file_server.files["/f/model.bin"] = secrets.token_bytes(1000)
    (seed_app / "rpbuild.yaml").write_text(
        f"weights:\n  - url: {file_server.url}/f/model.bin\n"
        f'    sha256: "{"0" * 64}"\n    path: /models/model.bin\n'
    )
    code, payload, output = rpbuild(
        "image", str(seed_app), *base_flags(), "--network", "host", "-t", "rpbuild-test/bad:weights"
    )
    assert code == 1, output
    assert "rpworker.weights" in payload["step"]
    assert "weights[0] " in output
    assert f"checksum mismatch: expected sha256 {'0' * 64}" in output
