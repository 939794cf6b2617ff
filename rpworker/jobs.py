"""Run one job through a handler and produce its result body.

Transport-free: the local API, the test mode and the production worker all
call :func:`run_job` and decide themselves where chunks and results go.
Cancellation (``task.cancel()``) and deadlines are the caller's scopes: the
``CancelledError`` of a cancel propagates. Anything else the handler raises fails
its job only, ``SystemExit``, ``KeyboardInterrupt`` and ``GeneratorExit``
included: a real Ctrl-C or SIGTERM reaches the runtime as a signal, through
its own shutdown path, never as an exception raised inside a job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextlib import aclosing
from typing import Any

from rpworker import handler as handlers
from rpworker import results
from rpworker.types import Handler, Job, ResultBody

ChunkSink = Callable[[Any], Awaitable[None]]
"""Receives each streamed value in order, as soon as it is produced."""


async def run_job(
    handler: Handler,
    job: Job,
    *,
    aggregate: bool = False,
    executor: Executor | None = None,
    on_chunk: ChunkSink | None = None,
) -> ResultBody:
    try:
        outcome = await handlers.call(handler, job, executor)
        if outcome.stream is None:
            return results.from_return(outcome.value)
        chunks: list[Any] | None = [] if aggregate else None
        async with aclosing(outcome.stream) as stream:
            async for chunk in stream:
                if on_chunk is not None:
                    await on_chunk(chunk)
                if chunks is not None:
                    chunks.append(chunk)
                if results.is_error_chunk(chunk):
                    return results.from_error_chunk(chunk, chunks)
        return {"output": chunks if chunks is not None else []}
    except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
        return results.from_exception(exc.raised if isinstance(exc, handlers.ThreadExit) else exc)
    except asyncio.CancelledError as exc:
        if _cancelled_from_outside():
            raise
        return results.from_exception(exc)


def _cancelled_from_outside() -> bool:
    """Whether this task is being cancelled (a job-stop, a deadline, the shutdown),
    not merely handed a ``CancelledError`` by the handler (say, from awaiting a task
    cancelled elsewhere), which fails only its job. Python 3.10 cannot tell them
    apart (no ``Task.cancelling``): there every one counts as a cancel."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or bool(cancelling())
