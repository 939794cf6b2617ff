"""Local test mode: run one job from ``--test_input`` or ``./test_input.json``.

stdout carries JSON lines a program can read: ``{"chunk": ...}`` for each
streamed value as it is produced, ``{"progress": ...}`` for each
``progress_update``, and last the job's result body (``{"output": ...}`` or
``{"error": ...}``). Everything for humans goes to stderr.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import os
import signal
import sys
from typing import Any

from rpworker import codec, progress, results
from rpworker.concurrency import ElasticExecutor
from rpworker.flags import Flags
from rpworker.jobs import run_job
from rpworker.types import Config, Job, ResultBody

log = logging.getLogger("rpworker")

INPUT_FILE = "test_input.json"
DEFAULT_ID = "local_test"
EXAMPLE = '\'{"input": {"prompt": "hi"}}\''


class TestInputError(ValueError):
    """The test job or expected output cannot be used; exit status 2."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the job ran; the exit status is 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _parse(text: str, source: str) -> Any:
    try:
        return codec.loads(text)
    except codec.NotJSON as exc:
        raise TestInputError(f"{source} is not valid JSON ({exc})") from None


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TestInputError(
            f"{source} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}):"
            " save it as UTF-8"
        ) from None


def load_job(test_input: str | None) -> Job:
    """The test job: from the flag, else from ./test_input.json."""
    if test_input is not None:
        source = "--test_input"
        job = _parse(test_input, source)
    elif os.path.exists(INPUT_FILE):
        source = f"./{INPUT_FILE}"
        with open(INPUT_FILE, "rb") as file:
            job = _parse(_decode(file.read(), source), source)
    else:
        raise TestInputError(
            f"no test job: pass --test_input {EXAMPLE} or create ./{INPUT_FILE} in {os.getcwd()}"
        )
    if not isinstance(job, dict) or "input" not in job:
        raise TestInputError(f"{source} must be a JSON object with an 'input' key, e.g. {EXAMPLE}")
    if job["input"] is None:
        raise TestInputError(f"{source}: 'input' must not be null, e.g. {EXAMPLE}")
    job.setdefault("id", DEFAULT_ID)
    return job


def _emit(line: dict[str, Any]) -> None:
    """One JSON line on stdout; a value that is not JSON raises (a chunk then fails its job)."""
    _write_line(codec.dumps(line))


def _write_line(data: bytes) -> None:
    """The line and its newline in one write: ``print`` makes two when stdout is
    unbuffered (``PYTHONUNBUFFERED``, as in images), and a reader of the merged
    streams could then find a log line between them."""
    sys.stdout.write(data.decode() + "\n")
    sys.stdout.flush()


def _emit_progress(value: Any) -> None:
    try:
        _emit({"progress": value})
    except codec.NotJSON as exc:
        log.warning("progress update dropped: %s", exc)


async def _execute(config: Config, job: Job) -> ResultBody:
    async def on_chunk(chunk: Any) -> None:
        _emit({"chunk": chunk})

    # Daemon threads: a sync handler still blocked after Ctrl-C never holds up the exit.
    executor = ElasticExecutor()
    try:
        with progress.listening(str(job["id"]), _emit_progress):
            return await run_job(
                config["handler"],
                job,
                aggregate=bool(config.get("return_aggregate_stream")),
                executor=executor,
                on_chunk=on_chunk,
            )
    finally:
        executor.shutdown(wait=False)


async def _execute_until_signal(config: Config, job: Job) -> ResultBody:
    """The job's result; the first SIGINT or SIGTERM cancels it and raises :class:`Interrupted`."""
    loop = asyncio.get_running_loop()
    work = asyncio.ensure_future(_execute(config, job))
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        work.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await work
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def output_diff(expected: Any, actual: Any) -> str:
    def lines(value: Any) -> list[str]:
        return json.dumps(value, indent=2, sort_keys=True, default=repr).splitlines()

    return "\n".join(
        difflib.unified_diff(
            lines(expected), lines(actual), "expected (--test_output)", "output", lineterm=""
        )
    )


def _report_error(job: Job, error: str) -> None:
    try:
        details = json.loads(error)
    except json.JSONDecodeError:
        details = None
    if isinstance(details, dict) and "error_traceback" in details:
        log.error("job %s raised:\n%s", job["id"], details["error_traceback"].rstrip())
    else:
        log.error("job %s failed: %s", job["id"], error)


def run(config: Config, flags: Flags) -> int:
    """Run the test job: exit 0 (success), 1 (failure, mismatch), 2 (bad input), 128 + signal."""
    try:
        job = load_job(flags.test_input)
        expected = None if flags.test_output is None else _parse(flags.test_output, "--test_output")
    except TestInputError as exc:
        print(f"rpworker: error: {exc}", file=sys.stderr)
        return 2
    log.info("running test job %s", job["id"])
    try:
        body = asyncio.run(_execute_until_signal(config, job))
    except Interrupted as stop:
        print(f"rpworker: job {job['id']} interrupted by {stop}", file=sys.stderr)
        return 128 + stop.signum
    body, data = results.encode(body)
    _write_line(data)
    if results.is_failure(body):
        _report_error(job, body["error"])
        return 1
    if flags.test_output is not None and body.get("output") != expected:
        diff = output_diff(expected, body.get("output"))
        log.error("output differs from --test_output:\n%s", diff)
        return 1
    log.info("job %s completed", job["id"])
    return 0
