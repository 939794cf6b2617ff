"""``rpworker FILE`` test mode over every handler kind, as a real subprocess."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rpworker import test_mode
from rpworker.flags import Flags
from tests.fixtures.worker_process import RPWORKER, json_lines, run_rpworker, write_handler

KINDS: dict[str, tuple[str, list[Any], dict[str, Any]]] = {
    "plain": (
        """
        import threading
        def handler(job):
            return {"n": job["input"]["n"] + 1,
                    "on_main_thread": threading.current_thread() is threading.main_thread()}
        """,
        [],
        {"output": {"n": 3, "on_main_thread": False}},
    ),
    "async": (
        """
        async def handler(job):
            return job["input"]["n"] * 10
        """,
        [],
        {"output": 20},
    ),
    "generator": (
        """
        def handler(job):
            yield from range(job["input"]["n"])
        """,
        [{"chunk": 0}, {"chunk": 1}],
        {"output": []},
    ),
    "async_generator_aggregate": (
        """
        import asyncio
        CONFIG = {"return_aggregate_stream": True}
        async def handler(job):
            for i in range(job["input"]["n"]):
                await asyncio.sleep(0.01)
                yield f"t{i}"
        """,
        [{"chunk": "t0"}, {"chunk": "t1"}],
        {"output": ["t0", "t1"]},
    ),
    "callable_generator": (
        """
        class Streamer:
            def __call__(self, job):
                yield "a"
                yield "b"
        handler = Streamer()
        CONFIG = {"return_aggregate_stream": True}
        """,
        [{"chunk": "a"}, {"chunk": "b"}],
        {"output": ["a", "b"]},
    ),
    "partial": (
        """
        import functools
        def scaled(job, factor):
            return job["input"]["n"] * factor
        handler = functools.partial(scaled, factor=7)
        """,
        [],
        {"output": 14},
    ),
    "refresh_worker": (
        """
        def handler(job):
            return {"done": True, "refresh_worker": True}
        """,
        [],
        {"output": {"done": True}, "stopPod": True},
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_handler_kind(tmp_path: Path, kind: str) -> None:
    source, chunks, result = KINDS[kind]
    handler = write_handler(tmp_path, source)
    done = run_rpworker(str(handler), "--test_input", '{"input": {"n": 2}}', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [*chunks, result]


def test_reads_test_input_json_and_defaults_the_id(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return job\n")
    (tmp_path / "test_input.json").write_text(json.dumps({"input": {"k": "v"}}))
    done = run_rpworker(str(handler), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"output": {"id": "local_test", "input": {"k": "v"}}}]


def test_flag_wins_over_file_and_keeps_given_id(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return job['id']\n")
    (tmp_path / "test_input.json").write_text('{"input": 1}')
    done = run_rpworker(str(handler), "--test_input", '{"id": "x7", "input": 2}', cwd=tmp_path)
    assert json_lines(done.stdout) == [{"output": "x7"}]


@pytest.mark.parametrize(
    ("flags", "file_text", "message"),
    [
        ([], None, "no test job: pass --test_input"),
        (["--test_input", "{not json"], None, "--test_input is not valid JSON"),
        ([], "[1, 2", "./test_input.json is not valid JSON"),
        ([], b"\xff{}", "./test_input.json is not UTF-8 text (byte 0xff at offset 0)"),
        (["--test_input", '{"prompt": "hi"}'], None, "must be a JSON object with an 'input' key"),
        (["--test_input", "[1]"], None, "must be a JSON object with an 'input' key"),
        # The SDK's rp_local.run_local refuses a null input too ("Job has no input parameter").
        (["--test_input", '{"input": null}'], None, "'input' must not be null"),
        ([], '{"id": "x", "input": null}', "./test_input.json: 'input' must not be null"),
        (["--test_input", '{"input": 1}', "--test_output", "{x"], None, "--test_output is not"),
    ],
)
def test_unusable_input_exits_2(
    tmp_path: Path, flags: list[str], file_text: str | bytes | None, message: str
) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    if file_text is not None:
        data = file_text if isinstance(file_text, bytes) else file_text.encode()
        (tmp_path / "test_input.json").write_bytes(data)
    done = run_rpworker(str(handler), *flags, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_expected_output_matches(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return {'a': [1, 2]}\n")
    flags = ["--test_input", '{"input": {}}', "--test_output", '{"a": [1, 2]}']
    assert run_rpworker(str(handler), *flags, cwd=tmp_path).returncode == 0


def test_expected_output_differs_shows_a_diff(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return {'a': [1, 2]}\n")
    flags = ["--test_input", '{"input": {}}', "--test_output", '{"a": [1, 3]}']
    done = run_rpworker(str(handler), *flags, cwd=tmp_path)
    assert done.returncode == 1
    assert "output differs from --test_output" in done.stderr
    assert "-    3" in done.stderr
    assert "+    2" in done.stderr


def test_exception_fails_with_the_structured_error(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    raise KeyError('prompt')\n")
    done = run_rpworker(str(handler), "--test_input", '{"input": {}}', cwd=tmp_path)
    assert done.returncode == 1
    details = json.loads(json_lines(done.stdout)[-1]["error"])
    assert details["error_type"] == "<class 'KeyError'>"
    assert "raise KeyError('prompt')" in done.stderr


def test_returned_error_fails(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return {'error': 'bad prompt'}\n")
    done = run_rpworker(str(handler), "--test_input", '{"input": {}}', cwd=tmp_path)
    assert done.returncode == 1
    assert json_lines(done.stdout) == [{"error": "bad prompt"}]


def test_yielded_error_is_streamed_and_fails_keeping_fields(tmp_path: Path) -> None:
    source = """
    def handler(job):
        yield "ok"
        yield {"error": "out of memory", "step": 2}
        yield "never"
    """
    handler = write_handler(tmp_path, source)
    done = run_rpworker(str(handler), "--test_input", '{"input": 0}', cwd=tmp_path)
    assert done.returncode == 1
    assert json_lines(done.stdout) == [
        {"chunk": "ok"},
        {"chunk": {"error": "out of memory", "step": 2}},
        {"error": "out of memory", "output": {"step": 2}},
    ]


def test_progress_updates_come_before_the_result(tmp_path: Path) -> None:
    source = """
    def handler(job):
        for step in (1, 2):
            runpod.serverless.progress_update(job, {"step": step})
        return "done"
    """
    handler = write_handler(tmp_path, source)
    done = run_rpworker(str(handler), "--test_input", '{"input": 0}', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [
        {"progress": {"step": 1}},
        {"progress": {"step": 2}},
        {"output": "done"},
    ]


@pytest.mark.parametrize(
    ("returned", "problem"),
    [("{1, 2, 3}", "set is not JSON"), ("float('nan')", "NaN"), ("deep()", "nested too deeply")],
)
def test_output_that_is_not_json_fails_as_in_the_other_modes(
    tmp_path: Path, returned: str, problem: str
) -> None:
    """Row 10: the verdict of the local API and production, not a repr printed as output."""
    source = f"""
    def deep():
        value = []
        for _ in range(5000):
            value = [value]
        return value
    def handler(job):
        return {returned}
    """
    done = run_rpworker(
        str(write_handler(tmp_path, source)), "--test_input", '{"input": 0}', cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    (last,) = [json.loads(line, parse_constant=_refuse) for line in done.stdout.splitlines()]
    assert problem in last["error"]


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "SystemExit(3)", "GeneratorExit"])
def test_a_handler_raising_an_exit_fails_its_job(tmp_path: Path, raised: str) -> None:
    """Row 1 in test mode: a structured error and status 1, not an interrupted run."""
    source = f"def handler(job):\n    raise {raised}\n"
    done = run_rpworker(
        str(write_handler(tmp_path, source)), "--test_input", '{"input": 0}', cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    details = json.loads(json_lines(done.stdout)[-1]["error"])
    assert raised.split("(")[0] in details["error_type"]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_signal_stops_a_blocked_sync_handler(tmp_path: Path, signum: int, status: int) -> None:
    """Row 12: the first Ctrl-C (or SIGTERM) ends the run with a message, no traceback."""
    source = """
    import sys, time
    def handler(job):
        print("handler started", file=sys.stderr, flush=True)
        time.sleep(60)
    """
    handler = write_handler(tmp_path, source)
    process = subprocess.Popen(
        [RPWORKER, str(handler), "--test_input", '{"input": 0}'],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "handler started" in line:
                break
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == status
    assert "Traceback" not in err
    assert "interrupted" in err
    assert out == ""


def test_every_line_is_one_whole_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """With stdout unbuffered, as in images, a line and its newline written apart let the
    engine put a log line between them: a reader then finds no result."""
    writes: list[str] = []

    class Unbuffered(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    def handler(job: dict[str, Any]) -> Any:
        yield from job["input"]["tokens"]

    monkeypatch.setattr(sys, "stdout", Unbuffered())
    flags = Flags(test_input=json.dumps({"input": {"tokens": ["a", "b"]}}))
    assert test_mode.run({"handler": handler}, flags) == 0
    assert all(text.endswith("\n") and text.count("\n") == 1 for text in writes), writes
    assert [json.loads(text) for text in writes] == [{"chunk": "a"}, {"chunk": "b"}, {"output": []}]
