"""run_job over every handler kind, through the shared adapter."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rpworker.concurrency import ElasticExecutor
from rpworker.handler import HandlerKind, classify
from rpworker.jobs import run_job
from rpworker.progress import progress_update

JOB = {"id": "j1", "input": {"n": 3}}


def plain(job: dict[str, Any]) -> dict[str, Any]:
    return {"sum": job["input"]["n"] + 1}


async def coroutine(job: dict[str, Any]) -> int:
    await asyncio.sleep(0)
    return int(job["input"]["n"]) * 2


def generator(job: dict[str, Any]) -> Iterator[int]:
    yield from range(job["input"]["n"])


async def async_generator(job: dict[str, Any]) -> AsyncIterator[str]:
    for i in range(job["input"]["n"]):
        await asyncio.sleep(0)
        yield f"t{i}"


class CallableGenerator:
    def __call__(self, job: dict[str, Any]) -> Iterator[str]:
        yield "a"
        yield "b"


class CallableAsync:
    async def __call__(self, job: dict[str, Any]) -> str:
        return "called"


def scaled(job: dict[str, Any], factor: int) -> Iterator[int]:
    yield job["input"]["n"] * factor


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (plain, HandlerKind.FUNCTION),
        (coroutine, HandlerKind.COROUTINE),
        (generator, HandlerKind.GENERATOR),
        (async_generator, HandlerKind.ASYNC_GENERATOR),
        (CallableGenerator(), HandlerKind.GENERATOR),
        (CallableAsync(), HandlerKind.COROUTINE),
        (functools.partial(scaled, factor=2), HandlerKind.GENERATOR),
    ],
)
def test_classify(handler: Any, kind: HandlerKind) -> None:
    assert classify(handler) is kind


@pytest.mark.parametrize(
    ("handler", "aggregate", "expected"),
    [
        (plain, False, {"output": {"sum": 4}}),
        (coroutine, False, {"output": 6}),
        (generator, True, {"output": [0, 1, 2]}),
        (generator, False, {"output": []}),
        (async_generator, True, {"output": ["t0", "t1", "t2"]}),
        (CallableGenerator(), True, {"output": ["a", "b"]}),
        (CallableAsync(), False, {"output": "called"}),
        (functools.partial(scaled, factor=5), True, {"output": [15]}),
    ],
)
async def test_results(handler: Any, aggregate: bool, expected: dict[str, Any]) -> None:
    chunks: list[Any] = []

    async def sink(chunk: Any) -> None:
        chunks.append(chunk)

    body = await run_job(handler, JOB, aggregate=aggregate, on_chunk=sink)
    assert body == expected
    if aggregate:
        assert chunks == expected["output"]


async def test_returned_dict_maps_error_and_refresh() -> None:
    body = await run_job(lambda job: {"error": "bad", "refresh_worker": True, "x": 1}, JOB)
    assert body == {"output": {"x": 1}, "error": "bad", "stopPod": True}


async def test_exception_gives_structured_error() -> None:
    def boom(job: dict[str, Any]) -> None:
        raise ValueError("nope")

    body = await run_job(boom, JOB)
    details = json.loads(body["error"])
    assert details["error_type"] == "<class 'ValueError'>"
    assert details["error_message"] == "nope"
    assert "Traceback" in details["error_traceback"]
    assert {"hostname", "worker_id"} <= details.keys()


NEEDS_CANCELLING = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Python 3.10 has no Task.cancelling: every one is a cancel"
)


async def _awaits_a_cancelled_task(job: dict[str, Any]) -> None:
    other = asyncio.ensure_future(asyncio.sleep(10))
    other.cancel()
    await other


def _raises_cancelled(job: dict[str, Any]) -> None:
    raise asyncio.CancelledError("from the handler")


@NEEDS_CANCELLING
@pytest.mark.parametrize("handler", [_awaits_a_cancelled_task, _raises_cancelled])
async def test_a_cancelled_error_of_the_handler_s_own_fails_only_its_job(handler: Any) -> None:
    """The job's task is not being cancelled: the job ends FAILED (it never ended)."""
    for executor in (None, ElasticExecutor()):
        body = await run_job(handler, JOB, executor=executor)
        assert (
            json.loads(body["error"])["error_type"] == "<class 'asyncio.exceptions.CancelledError'>"
        )


async def test_a_cancel_of_the_job_still_propagates() -> None:
    started = asyncio.Event()

    async def waits(job: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.ensure_future(run_job(waits, JOB))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


async def test_an_exception_whose_str_raises_still_fails_its_job() -> None:
    # The SDK's run_job calls str(err) in its except block, so the worker itself
    # crashes; the job here fails with traceback's own placeholder for the message.
    def boom(job: dict[str, Any]) -> None:
        raise Unprintable

    body = await run_job(boom, JOB)
    details = json.loads(body["error"])
    assert details["error_type"] == f"<class '{__name__}.Unprintable'>"
    assert details["error_message"] == "<exception str() failed>"
    assert details["error_traceback"].rstrip().endswith("<exception str() failed>")


@pytest.mark.parametrize(
    ("given", "error_type"),
    [(lambda job: job["id"], "TypeError"), (lambda job: {"input": 1}, "KeyError")],
    ids=["the_id", "no_id"],
)
async def test_progress_update_without_the_job_fails_it_as_in_the_sdk(
    given: Any, error_type: str
) -> None:
    # The SDK's rp_progress.progress_update reads job["id"] first: a str raises
    # TypeError, a dict without an id KeyError, and the job fails.
    def reporting(job: dict[str, Any]) -> str:
        progress_update(given(job), "half")
        return "done"

    body = await run_job(reporting, JOB)
    assert json.loads(body["error"])["error_type"] == f"<class '{error_type}'>"


async def test_yielded_error_is_streamed_and_fails_with_its_fields() -> None:
    def gen(job: dict[str, Any]) -> Iterator[Any]:
        yield "ok"
        yield {"error": "model crashed", "code": 7}
        yield "never"

    chunks: list[Any] = []

    async def sink(chunk: Any) -> None:
        chunks.append(chunk)

    body = await run_job(gen, JOB, on_chunk=sink)
    assert chunks == ["ok", {"error": "model crashed", "code": 7}]
    assert body == {"error": "model crashed", "output": {"code": 7}}


async def test_a_stream_ended_by_an_error_is_closed_before_the_result() -> None:
    closed: list[str] = []

    def gen(job: dict[str, Any]) -> Iterator[Any]:
        try:
            yield {"error": "stop"}
            yield "never"
        finally:
            closed.append("sync")

    async def agen(job: dict[str, Any]) -> AsyncIterator[Any]:
        try:
            yield {"error": "stop"}
            yield "never"
        finally:
            closed.append("async")

    for handler in (gen, agen):
        assert await run_job(handler, JOB) == {"error": "stop"}
    assert closed == ["sync", "async"]


async def test_sync_handler_runs_off_the_loop() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def blocking(job: dict[str, Any]) -> str:
        seen.append(threading.get_ident())
        time.sleep(0.3)
        return "done"

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    body = await run_job(blocking, JOB)
    tick_task.cancel()
    assert body == {"output": "done"}
    assert seen and seen[0] != loop_thread
    assert ticks >= 10


async def test_plain_function_returning_a_generator_is_streamed() -> None:
    def factory(job: dict[str, Any]) -> Iterator[int]:
        return iter_values()

    def iter_values() -> Iterator[int]:
        yield 1
        yield 2

    assert await run_job(factory, JOB, aggregate=True) == {"output": [1, 2]}


@dataclass
class Scale:
    """A callable object that is not hashable (a dataclass with eq)."""

    factor: int

    def __call__(self, job: dict[str, Any]) -> int:
        return int(job["input"]["n"]) * self.factor


async def test_unhashable_callable_objects_are_handlers() -> None:
    assert await run_job(Scale(2), JOB) == {"output": 6}


async def test_an_elastic_executor_runs_functions_and_generators_off_the_loop() -> None:
    def where(job: dict[str, Any]) -> bool:
        return threading.get_ident() != loop_thread

    def threads(job: dict[str, Any]) -> Iterator[bool]:
        yield threading.get_ident() != loop_thread

    def boom(job: dict[str, Any]) -> None:
        raise ValueError("nope")

    loop_thread = threading.get_ident()
    executor = ElasticExecutor()
    assert await run_job(where, JOB, executor=executor) == {"output": True}
    assert await run_job(threads, JOB, aggregate=True, executor=executor) == {"output": [True]}
    body = await run_job(boom, JOB, executor=executor)
    assert json.loads(body["error"])["error_message"] == "nope"
    executor.shutdown()
