"""The ``rpworker`` command: the runpod alias, file resolution and user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rpworker.version import __version__
from tests.fixtures.worker_process import json_lines, run_rpworker, write_handler

JOB = ("--test_input", '{"input": {}}')


def test_runpod_is_not_importable_outside_the_launcher(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import runpod"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "No module named 'runpod'" in done.stderr


def test_runpod_resolves_to_the_runtime(tmp_path: Path) -> None:
    source = """
    import rpworker
    from runpod.serverless.utils.rp_validator import validate
    from runpod.serverless.modules.rp_logger import RunPodLogger
    RunPodLogger().info("logger works")
    def handler(job):
        return {
            "same_start": runpod.serverless.start is rpworker.start,
            "same_validate": validate is rpworker.validate,
            "version": runpod.__version__,
        }
    """
    done = run_rpworker(str(write_handler(tmp_path, source)), *JOB, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = {"same_start": True, "same_validate": True, "version": __version__}
    logged, result = done.stdout.splitlines()
    assert logged == "INFO   | logger works"
    assert json_lines(result) == [{"output": expected}]


def test_rp_cleanup_removes_scratch_folders(tmp_path: Path) -> None:
    source = """
    import os
    from runpod.serverless.utils import rp_cleanup
    def handler(job):
        for folder in ("input_objects", "job_files", "mine", "kept"):
            os.makedirs(os.path.join(folder, "sub"))
        open("output.zip", "w").close()
        rp_cleanup.clean(["mine"])
        return sorted(os.listdir("."))
    """
    done = run_rpworker(str(write_handler(tmp_path, source)), *JOB, cwd=tmp_path)
    assert json_lines(done.stdout) == [{"output": ["handler.py", "kept"]}]


def test_handler_may_use_rpworker_directly(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(
        "import rpworker\nrpworker.start({'handler': lambda job: 'direct'})\n"
    )
    done = run_rpworker("handler.py", *JOB, cwd=tmp_path)
    assert json_lines(done.stdout) == [{"output": "direct"}]


def test_file_directory_first_on_path_and_unknown_flags_kept(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "helpers.py").write_text("ANSWER = 42\n")
    source = """
    import sys
    import helpers
    def handler(job):
        return [helpers.ANSWER, sys.argv[1:]]
    """
    handler = write_handler(app, source)
    done = run_rpworker(str(handler), *JOB, "--model", "small", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"output": [42, ["--model", "small"]]}]


def test_handler_file_from_the_environment(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 'from env'\n")
    done = run_rpworker(*JOB, cwd=tmp_path, env={"RPWORKER_HANDLER": str(handler)})
    assert json_lines(done.stdout) == [{"output": "from env"}]


def test_missing_file(tmp_path: Path) -> None:
    done = run_rpworker("nope.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "handler file nope.py not found" in done.stderr


def test_no_file_at_all(tmp_path: Path) -> None:
    done = run_rpworker(*JOB, cwd=tmp_path, env={"RPWORKER_HANDLER": ""})
    assert done.returncode == 2
    assert "RPWORKER_HANDLER" in done.stderr


def test_file_that_never_starts(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(job):\n    return 1\n")
    done = run_rpworker("handler.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "runpod.serverless.start(" in done.stderr


def test_config_without_handler(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("import runpod\nrunpod.serverless.start({})\n")
    done = run_rpworker("handler.py", *JOB, cwd=tmp_path)
    assert done.returncode == 2
    assert "start() needs config['handler']" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_and_version(tmp_path: Path) -> None:
    assert "rpworker FILE [flags...]" in run_rpworker("--help", cwd=tmp_path).stdout
    assert run_rpworker("--version", cwd=tmp_path).stdout == f"rpworker {__version__}\n"
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    flags_help = run_rpworker(str(handler), "--help", cwd=tmp_path)
    assert flags_help.returncode == 0
    assert "--rp_api_concurrency N" in flags_help.stdout


def test_bad_flag_value(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    done = run_rpworker(str(handler), "--rp_api_concurrency", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "--rp_api_concurrency: must be 1 or more, got 0" in done.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["python", "-c", "print(42)"], "42\n"),
        (["python3", "-m", "json.tool", "--help"], "usage:"),
        (["python", "-uc", "print(42)"], "42\n"),
        (["sh", "-c", "echo from a shell"], "from a shell\n"),
        (["ls", "-a"], "handler.py"),
    ],
    ids=["python_c", "python_m", "python_uc", "shell", "ls"],
)
def test_a_command_after_the_entrypoint_file_runs_as_given(
    tmp_path: Path, command: list[str], expected: str
) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 'worker ran'\n")
    (tmp_path / "test_input.json").write_text('{"input": {}}')
    done = run_rpworker(str(handler), *command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert "worker ran" not in done.stdout


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["ls", "-a"], "handler.py"),
        (["sh", "-c", "echo from a shell"], "from a shell\n"),
        (["python", "-c", "print(42)"], "42\n"),
    ],
    ids=["ls", "shell", "python_c"],
)
def test_a_base_image_runs_a_command_that_names_no_handler(
    tmp_path: Path, command: list[str], expected: str
) -> None:
    """A base image's entrypoint is bare `rpworker`: `docker run BASE ls` gives it `ls`
    alone, which it ran as a handler file ("handler file ls not found", QA 13)."""
    write_handler(tmp_path, "def handler(job):\n    return 'worker ran'\n")
    (tmp_path / "test_input.json").write_text('{"input": {}}')
    for env in ({}, {"RPWORKER_HANDLER": "handler.py"}):
        done = run_rpworker(*command, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
        assert "worker ran" not in done.stdout


def test_a_handler_file_without_py_is_still_a_handler(tmp_path: Path) -> None:
    write_handler(tmp_path, "def handler(job):\n    return 'worker ran'\n", name="worker")
    done = run_rpworker("worker", *JOB, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"output": "worker ran"}]


def test_an_unknown_command_exits_127(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    done = run_rpworker(str(handler), "no-such-command-rpworker", cwd=tmp_path)
    assert done.returncode == 127
    assert "no-such-command-rpworker: command not found" in done.stderr


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (JOB, {}),
        (("--rp_serve_api", "--rp_api_port", "1"), {}),
        ((), {"RUNPOD_WEBHOOK_GET_JOB": "http://127.0.0.1:1/take"}),
    ],
    ids=["test_mode", "local_api", "production"],
)
def test_a_bad_job_timeout_is_refused_in_every_mode(
    tmp_path: Path, flags: tuple[str, ...], env: dict[str, str]
) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    env = {**env, "RPWORKER_JOB_TIMEOUT": "abc", "RUNPOD_WEBHOOK_POST_OUTPUT": "http://127.0.0.1:1"}
    done = run_rpworker(str(handler), *flags, cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert (
        done.stderr
        == "rpworker: RPWORKER_JOB_TIMEOUT='abc' is invalid: use a number >= 0, e.g. 0\n"
    )


def test_an_unknown_log_level_warns_once(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    done = run_rpworker(str(handler), *JOB, cwd=tmp_path, env={"RUNPOD_LOG_LEVEL": "LOUD"})
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("'LOUD'") == 1


def test_gpu_check_is_dispatched(tmp_path: Path) -> None:
    done = run_rpworker("gpu-check", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: rpworker gpu-check")


def test_public_api() -> None:
    import rpworker

    assert rpworker.__all__ == ["__version__", "progress_update", "start", "validate"]
