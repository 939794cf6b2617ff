"""Run one job's work under its deadline, cancellable, the same way in every runner.

The local API (``policy.executionTimeout``) and the production worker (config
``timeout``, the shutdown grace) both call :func:`run_under_deadline`. A job
whose work finished only after its deadline (an ``async def`` handler that
blocked the event loop past it, so no timer could fire) still counts as timed
out: the deadline is enforced as soon as the loop is free again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

log = logging.getLogger("rpworker")

T = TypeVar("T")

CANCEL_WAIT_S = 1.0
"""How long a cancelled job may take to unwind before it is left behind."""


class Ending(enum.Enum):
    DONE = "done"
    TIMED_OUT = "timed out"
    ABORTED = "aborted"


class Outcome(Generic[T]):
    """How the work ended, and its value when it ended by itself in time."""

    __slots__ = ("ending", "value")

    def __init__(self, ending: Ending, value: T | None = None) -> None:
        self.ending = ending
        self.value = value


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A left-behind task's late failure is logged, never 'never retrieved'."""
    if not task.cancelled() and task.exception() is not None:
        log.error("abandoned job work failed late", exc_info=task.exception())


async def run_under_deadline(
    work: Coroutine[Any, Any, T],
    timeout_s: float | None,
    abort: asyncio.Future[None] | None = None,
) -> Outcome[T]:
    """Await ``work``; past ``timeout_s`` or once ``abort`` is set, cancel it.

    Cancelling the caller cancels ``work`` too.
    """
    if timeout_s is None and abort is None:
        return Outcome(Ending.DONE, await work)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.ensure_future(work)
    ends: set[asyncio.Future[Any]] = {task} if abort is None else {task, abort}
    try:
        await asyncio.wait(ends, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_WAIT_S)
            task.add_done_callback(_retrieve)
    if task.cancelled() or not task.done():
        if abort is not None and abort.done():
            return Outcome(Ending.ABORTED)
        return Outcome(Ending.TIMED_OUT)
    value = task.result()
    if timeout_s is not None and loop.time() - started > timeout_s:
        return Outcome(Ending.TIMED_OUT)
    return Outcome(Ending.DONE, value)
