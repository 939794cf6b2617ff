"""Migrating a RunPod worker: the SDK pin dropped, the S3 extra added, start commands kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from builder import engine
from builder.build import config, options
from builder.build.context import AppSource, app_context
from builder.build.sdk_migration import app_requirements
from rpworker import sdk_alias
from tests.fixtures.docker_engine import base_flags, rpbuild
from tests.fixtures.worker_process import json_lines, run_rpworker

PINNED = "numpy==1.26.4  # math\nrunpod==1.7.0\nRunPod[extra] >= 1.6 ; python_version > '3'\n"
HANDLER = """\
import runpod


def handler(job):
    return {"echo": job["input"], "sdk": runpod.__file__.endswith("_shim/runpod/__init__.py")}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
"""


def _app(tmp_path: Path, requirements: str | None, handler: str = HANDLER) -> Path:
    app = tmp_path / "app"
    app.mkdir(parents=True)
    (app / "handler.py").write_text(handler)
    if requirements is not None:
        (app / "requirements.txt").write_text(requirements)
    return app


def test_the_sdk_pin_is_dropped_once_with_a_note(tmp_path: Path) -> None:
    app = _app(tmp_path, PINNED)
    result = app_requirements(app, app / "requirements.txt", None)
    assert result.text == "numpy==1.26.4  # math\n"
    assert len(result.notes) == 1 and "runpod_sdk: keep" in result.notes[0]


def test_runpod_sdk_keep_installs_the_requirements_as_they_are(tmp_path: Path) -> None:
    app = _app(tmp_path, PINNED)
    result = app_requirements(app, app / "requirements.txt", "keep")
    assert result.text == PINNED and result.notes == ()


def test_code_that_uploads_gets_the_s3_extra(tmp_path: Path) -> None:
    uploading = HANDLER.replace(
        "import runpod\n", "import runpod\nfrom runpod.serverless.utils import rp_upload\n"
    )
    app = _app(tmp_path, None, uploading)
    result = app_requirements(app, None, None)
    assert result.text is not None and result.text.startswith("boto3")
    assert "S3" in result.notes[0]
    assert app_requirements(_app(tmp_path / "plain", None), None, None).text is None


@pytest.mark.parametrize(
    "command",
    [
        ["python", "-u", "handler.py"],
        ["python3", "-u", "/handler.py"],
        ["/usr/bin/python3.11", "-W", "ignore", "handler.py"],
        ["/app/baked.py", "python", "-u", "handler.py"],
    ],
    ids=["python", "rp_handler_at_root", "full_path", "after_the_entrypoint_file"],
)
def test_a_python_start_command_runs_the_handler(tmp_path: Path, command: list[str]) -> None:
    app = _app(tmp_path, None)
    done = run_rpworker(*command, "--test_input", '{"input": 3}', cwd=app)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"output": {"echo": 3, "sdk": True}}]


def test_the_alias_path_yields_to_an_installed_sdk(tmp_path: Path) -> None:
    alias_site, sdk_site = tmp_path / "alias", tmp_path / "sdk"
    alias_site.mkdir()
    (sdk_site / "runpod").mkdir(parents=True)
    (sdk_site / "runpod" / "__init__.py").write_text("REAL = True\n")
    sdk_alias.install(alias_site)
    probe = (
        "import site, sys; [site.addsitedir(d) for d in sys.argv[1:]]; "
        "import runpod; print(runpod.__file__)"
    )
    alone = subprocess.run(
        [sys.executable, "-c", probe, str(alias_site)], capture_output=True, text=True, check=True
    )
    assert alone.stdout.strip() == str(sdk_alias.SHIM_DIR / "runpod" / "__init__.py")
    both = subprocess.run(
        [sys.executable, "-c", probe, str(sdk_site), str(alias_site)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert both.stdout.strip() == str(sdk_site / "runpod" / "__init__.py")


def _run(builder: engine.Builder, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [builder.client, "run", "--rm", "--network", "none", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.docker
def test_a_migrated_worker_image_runs_its_template_start_commands(
    docker_builder: engine.Builder, gpu_base: dict[str, Any], tmp_path: Path
) -> None:
    app = _app(tmp_path, "runpod==1.7.0\n")
    (app / "test_input.json").write_text('{"input": "file"}')
    tag = f"rpbuild-test/migrated-{uuid.uuid4().hex[:8]}:latest"
    code, _, output = rpbuild("image", str(app), *base_flags(), "-t", tag)
    try:
        assert code == 0, output
        assert output.count("requirements pin the runpod SDK: not installed") == 1
        expected = [{"output": {"echo": "file", "sdk": True}}]
        for command in (["python", "-u", "handler.py"], ["python3", "-u", "/handler.py"]):
            done = _run(docker_builder, tag, *command)
            assert done.returncode == 0, done.stderr
            assert [
                json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")
            ] == expected
        plain = _run(docker_builder, "--entrypoint", "python", tag, "handler.py")
        assert plain.returncode == 0, plain.stderr
        assert [json.loads(x) for x in plain.stdout.splitlines() if x.startswith("{")] == expected
    finally:
        subprocess.run([docker_builder.client, "rmi", "-f", tag], capture_output=True, check=False)


def test_rpbuild_yaml_runpod_sdk_accepts_keep_and_replace_only(tmp_path: Path) -> None:
    assert config.validate({"runpod_sdk": "keep"}, []) == []
    project = config.resolve(tmp_path / "rpbuild.yaml", {"runpod_sdk": "keep"})
    resolved = options.resolve_options(tmp_path, {}, options.Layer.of_project(project))
    assert resolved.options.runpod_sdk == "keep"
    (issue,) = config.validate({"runpod_sdk": "yes"}, [])
    assert issue.key == "runpod_sdk"


def test_the_written_requirements_keep_the_sources_time_so_the_layer_stays_cached(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path, PINNED)
    requirements = app / "requirements.txt"
    os.utime(requirements, (1_000_000, 1_000_000))
    install = app_requirements(app, requirements, None)
    source = AppSource(app, "handler.py", requirements, install=install)
    app_context(tmp_path / "ctx", source, "FROM scratch\n")
    written = tmp_path / "ctx" / "requirements.txt"
    assert written.read_text() == "numpy==1.26.4  # math\n"
    assert written.stat().st_mtime == 1_000_000
