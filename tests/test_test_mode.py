"""``rpworker FILE`` test mode over every handler kind, as a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.worker_process import json_lines, run_rpworker, write_handler

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
        (["--test_input", '{"prompt": "hi"}'], None, "must be a JSON object with an 'input' key"),
        (["--test_input", "[1]"], None, "must be a JSON object with an 'input' key"),
        (["--test_input", '{"input": 1}', "--test_output", "{x"], None, "--test_output is not"),
    ],
)
def test_unusable_input_exits_2(
    tmp_path: Path, flags: list[str], file_text: str | None, message: str
) -> None:
    handler = write_handler(tmp_path, "def handler(job):\n    return 1\n")
    if file_text is not None:
        (tmp_path / "test_input.json").write_text(file_text)
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
