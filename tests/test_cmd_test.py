"""`rpbuild test IMAGE`: a real container in test mode and behind its local API."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from builder import engine, output
from builder.commands import cmd_test
from builder.commands.cli import main
from builder.dev.image_run import Outcome, _TestModeReader, read_input, run_test_mode
from builder.errors import InputError, Source
from tests.fixtures.docker_engine import CA_BUNDLE, STAND_IN, STAND_IN_PYTHON, base_flags

RPBUILD = str(Path(sys.executable).with_name("rpbuild"))
TOKENS = [{"index": 0, "token": "one"}, {"index": 1, "token": "two"}]


def rpbuild(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line, without a terminal (pipes), as in CI logs."""
    return subprocess.run(
        [RPBUILD, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": ""},
    )


def job_file(directory: Path, prompt: Any, name: str = "job.json") -> Path:
    path = directory / name
    path.write_text(json.dumps({"input": {"prompt": prompt}}))
    return path


def containers_of(image: str) -> str:
    listed = subprocess.run(
        [engine.client(), "ps", "-a", "-q", "--filter", f"ancestor={image}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.strip()


@pytest.mark.docker
def test_test_mode_shows_chunks_then_the_result(worker_image: str, tmp_path: Path) -> None:
    done = rpbuild(
        "test", worker_image, "--input", str(job_file(tmp_path, "one two")), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        '{"index": 0, "token": "one"}',
        '{"index": 1, "token": "two"}',
        f"COMPLETED: {json.dumps({'output': TOKENS})}",
    ]
    assert f"testing {worker_image}" in done.stderr
    assert "\x1b" not in done.stdout + done.stderr


@pytest.mark.docker
def test_a_failed_job_exits_1_with_its_error(worker_image: str, tmp_path: Path) -> None:
    done = rpbuild("test", worker_image, "--input", str(job_file(tmp_path, 5)), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED: ")
    error = json.loads(json.loads(done.stdout.removeprefix("FAILED: "))["error"])
    assert error["error_type"] == "<class 'AttributeError'>"


@pytest.mark.docker
def test_json_and_the_default_inputs(worker_image: str, tmp_path: Path) -> None:
    job_file(tmp_path, "one two", name="test_input.json")
    done = rpbuild("--quiet", "test", worker_image, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "ok": True,
        "image": worker_image,
        "mode": "test",
        "status": "COMPLETED",
        "chunks": TOKENS,
        "output": TOKENS,
    }
    assert done.stderr == ""
    # Elsewhere, without --input: the image's own /app/test_input.json.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = rpbuild("test", worker_image, "--json", cwd=elsewhere)
    assert json.loads(done.stdout)["output"] == [
        {"index": 0, "token": "hello"},
        {"index": 1, "token": "from"},
        {"index": 2, "token": "test"},
    ]


@pytest.mark.docker
def test_api_mode_goes_through_run_and_stream(worker_image: str, tmp_path: Path) -> None:
    job = job_file(tmp_path, "one two")
    done = rpbuild("-v", "test", worker_image, "--api", "--input", str(job), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        '{"index": 0, "token": "one"}',
        '{"index": 1, "token": "two"}',
        f"COMPLETED: {json.dumps({'output': TOKENS})}",
    ]
    assert "through its local API" in done.stderr
    assert done.stderr.splitlines().count("job: completed") == 1
    assert containers_of(worker_image) == ""

    failed = rpbuild(
        "test", worker_image, "--api", "--json", "--input", str(job_file(tmp_path, 5)), cwd=tmp_path
    )
    assert failed.returncode == 1
    result = json.loads(failed.stdout)
    assert result["mode"] == "api" and result["status"] == "FAILED" and "error" in result
    assert containers_of(worker_image) == ""


@pytest.mark.docker
def test_an_image_the_engine_lacks_is_named_before_anything_runs(tmp_path: Path) -> None:
    done = rpbuild("test", "local/rpbuild-no-such-image:none", cwd=tmp_path)
    assert done.returncode == 1
    assert "image local/rpbuild-no-such-image:none not found in the engine" in done.stderr
    assert "build it with `rpbuild image`" in done.stderr


def test_api_mode_needs_a_job(tmp_path: Path) -> None:
    done = rpbuild("test", "any-image", "--api", cwd=tmp_path)
    assert done.returncode == 2
    assert "--api needs a job: pass --input FILE" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "Expecting property name"), ('{"prompt": "x"}', 'with an "input" key')],
)
def test_bad_job_files_name_the_option(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "job.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        read_input(path)
    assert message in caught.value.message and caught.value.where == Source("--input")


def test_test_mode_lines_are_sorted_into_chunks_result_and_logs() -> None:
    shown = output.Output(mode=output.Mode.PLAIN, verbosity=output.Verbosity.VERBOSE)
    reader = _TestModeReader(shown)
    for line in [
        "2026-01-01 INFO rpworker: running test job local_test",
        '{"chunk": "a"}',
        '{"chunk": {"error": "not the end"}}',
        '{"output": ["a"], "error": "boom"}',
        "[1, 2]",
    ]:
        reader(line)
    assert reader.outcome.chunks == ["a", {"error": "not the end"}]
    assert reader.final == {"output": ["a"], "error": "boom"}
    assert reader.tail == ["2026-01-01 INFO rpworker: running test job local_test", "[1, 2]"]


@pytest.mark.docker
def test_the_tutorial_init_image_test(gpu_base: dict[str, Any], tmp_path: Path) -> None:
    """`rpbuild init`, `rpbuild image` and `rpbuild test` in the project, with no flags."""
    project = tmp_path / "tutorial"
    assert (
        rpbuild(
            "init", str(project), "--repository", "rpbuild-test/tutorial", cwd=tmp_path
        ).returncode
        == 0
    )
    settings = project / "rpbuild.yaml"
    stand_in = {"base_image": STAND_IN, "python": STAND_IN_PYTHON}
    if CA_BUNDLE.is_file():
        stand_in["ca_bundle"] = str(CA_BUNDLE)
    settings.write_text(
        settings.read_text() + "".join(f"{k}: {json.dumps(v)}\n" for k, v in stand_in.items())
    )
    built = rpbuild("image", "--json", cwd=project)
    assert built.returncode == 0, built.stderr
    tag = json.loads(built.stdout.splitlines()[-1])["images"][-1]["tags"][0]
    assert tag.startswith("rpbuild-test/tutorial:custom-")
    done = rpbuild("test", cwd=project)
    assert done.returncode == 0, done.stderr
    assert f"testing {tag}" in done.stderr
    assert done.stdout.splitlines()[-1] == "COMPLETED: " + json.dumps(
        {
            "output": [
                {"index": 0, "token": "hello"},
                {"index": 1, "token": "from"},
                {"index": 2, "token": "tutorial"},
            ]
        }
    )
    assert rpbuild("test", tag, "--api", cwd=project).stdout == done.stdout


def test_without_an_image_a_directory_without_handler_is_refused(tmp_path: Path) -> None:
    done = rpbuild("test", cwd=tmp_path)
    assert done.returncode == 2
    assert "has no handler: name the IMAGE to test" in done.stderr


def docker_without_images(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker client first on PATH whose engine has no images; the file where it notes
    any other command it was asked to run (a pull, a container)."""
    ran = directory / "ran"
    docker = directory / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = buildx ]; then echo buildx 0.13; exit 0; fi\n'
        'if [ "$1" = image ] && [ "$2" = inspect ]; then\n'
        '  echo "Error response from daemon: No such image: $5" >&2; exit 1\n'
        "fi\n"
        f'echo "$@" >> {ran}\n'
        "exit 125\n"
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{docker.parent}{os.pathsep}{os.environ['PATH']}")
    return ran


def test_an_image_the_engine_lacks_is_named_without_a_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A docker client whose engine has no images: nothing may be pulled or run."""
    ran = docker_without_images(tmp_path, monkeypatch)
    job = str(job_file(tmp_path, "x"))
    for api in ([], ["--api"]):
        result = CliRunner().invoke(cmd_test.test, ["qa-nonexistent:latest", "--input", job, *api])
        assert result.exit_code == 1, result.output
        assert "image qa-nonexistent:latest not found in the engine" in result.output
        assert "build it with `rpbuild image`" in result.output
    assert not ran.exists()


def test_a_log_line_inside_the_result_line_does_not_hide_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine interleaves a container's stdout and stderr in chunks: a docker client
    that puts a log line between the result and its newline, as one did in CI."""
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(
        "#!/bin/sh\n"
        "printf '%s' '{\"chunk\": \"hi\"}'; echo; printf '%s' '{\"output\": [\"hi\"]}'\n"
        "echo 'INFO rpworker: job local_test completed' >&2\n"
        "sleep 0.2; echo\n"
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{docker.parent}{os.pathsep}{os.environ['PATH']}")
    out = output.Output(out=io.StringIO(), err=io.StringIO(), verbosity=output.Verbosity.VERBOSE)
    done = run_test_mode("any:image", {"input": {}}, out)
    assert (done.status, done.chunks, done.result) == ("COMPLETED", ["hi"], {"output": ["hi"]})
    assert "job local_test completed" in out.err.getvalue()


def project_flags(repository: str) -> list[str]:
    """`rpbuild image`'s options for a project with no rpbuild.yaml and a handler
    outside handler.py (QA 7)."""
    return ["--handler", "src/rp_handler.py", "--repository", repository, *base_flags()]


def handler_in_src(project: Path) -> None:
    (project / "src").mkdir(parents=True)
    (project / "src" / "rp_handler.py").write_text(
        "import runpod\n\n"
        "def handler(job):\n"
        "    return {'echo': job['input']}\n\n"
        "runpod.serverless.start({'handler': handler})\n"
    )


def test_the_options_of_rpbuild_image_choose_the_image_to_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given `rpbuild image`'s flags, `rpbuild test` looks for the tag that build makes."""
    handler_in_src(tmp_path)
    monkeypatch.chdir(tmp_path)
    flags = project_flags("localhost/qa-m1")
    planned = CliRunner().invoke(main, ["image", "--dry-run", "--json", *flags])
    assert planned.exit_code == 0, planned.output
    tag = json.loads(planned.stdout)["images"][-1]["tags"][0]
    assert tag.startswith("localhost/qa-m1:custom-")
    ran = docker_without_images(tmp_path, monkeypatch)
    tested = CliRunner().invoke(main, ["test", "--input", str(job_file(tmp_path, "x")), *flags])
    assert tested.exit_code == 1, tested.output
    assert f"image {tag} not found in the engine" in tested.output
    assert not ran.exists()


def test_image_and_the_options_that_choose_one_are_refused_together(tmp_path: Path) -> None:
    done = rpbuild("test", "any-image", "--cuda", "12.1", "-t", "x:1", "--json", cwd=tmp_path)
    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert error["ok"] is False
    assert "IMAGE any-image and --cuda, --tag both choose the image to test" in error["error"]


@pytest.mark.docker
def test_rpbuild_test_with_the_flags_of_rpbuild_image_tests_its_image(
    gpu_base: dict[str, Any], tmp_path: Path
) -> None:
    """QA 7: `rpbuild image FLAGS` with no rpbuild.yaml, then `rpbuild test FLAGS`."""
    handler_in_src(tmp_path)
    repository = f"rpbuild-test/qa-flags-{uuid.uuid4().hex[:12]}"
    flags = project_flags(repository)
    built = rpbuild("image", *flags, "--json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    tag = json.loads(built.stdout.splitlines()[-1])["images"][-1]["tags"][0]
    try:
        job = str(job_file(tmp_path, "hi"))
        done = rpbuild("test", "--input", job, *flags, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"testing {tag}" in done.stderr
        expected = {"output": {"echo": {"prompt": "hi"}}}
        assert done.stdout.splitlines()[-1] == f"COMPLETED: {json.dumps(expected)}"
    finally:
        subprocess.run([engine.client(), "image", "rm", tag], capture_output=True, check=False)


def test_the_json_verdict_is_the_jobs() -> None:
    """`rpbuild test --json` exits 1 on a failed job: its document says ok: false."""
    failed = Outcome(status="FAILED", result={"error": "boom"}).as_json("x:1", "test")
    assert failed == {
        "ok": False, "image": "x:1", "mode": "test", "status": "FAILED", "chunks": [],
        "error": "boom",
    }  # fmt: skip
    assert Outcome(status="COMPLETED", result={"output": 1}).as_json("x:1", "api")["ok"] is True
