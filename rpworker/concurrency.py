"""Threads for sync handlers: as many as run at once, and never blocking exit.

``ThreadPoolExecutor`` has a fixed maximum and joins its threads at
interpreter exit, so one sync handler stuck in a loop (abandoned after a
timeout, a job-stop or the shutdown grace) would both eat a slot for good and
hang the worker's exit. This executor starts a daemon thread whenever no idle
one is free, so the pool follows the concurrency the modifier asks for plus
any abandoned threads, and idle threads retire after a while.

Handing a result back to the event loop is the expensive part of a short
sync job (a cross-thread wake-up each), so :meth:`ElasticExecutor.run` hands
results back through one inbox per loop: results that finish while the loop
is busy ride on the wake-up already pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Delivery = Callable[[], None]
_Work = Callable[[], _Delivery]
"""Runs the call on a job thread and returns how to hand over its outcome."""


def _nothing() -> None:
    return None


class _Inbox:
    """Results crossing from job threads to one event loop, one wake-up per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._results: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []

    def put(self, future: asyncio.Future[Any], error: BaseException | None, value: Any) -> None:
        """Called on a job thread; a loop already closed drops the result (abandoned job)."""
        with self._lock:
            self._results.append((future, error, value))
            if len(self._results) > 1:
                return  # the wake-up for the first one is still pending
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            results, self._results = self._results, []
        for future, error, value in results:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


class ElasticExecutor(Executor):
    def __init__(self, *, idle_timeout_s: float = 60.0, name: str = "rpworker-job") -> None:
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._shutdown = False
        self._idle_timeout_s = idle_timeout_s
        self._name = name
        self._inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        context = contextvars.copy_context()  # e.g. the job id its log lines carry

        def work() -> _Delivery:
            if not future.set_running_or_notify_cancel():
                return _nothing
            try:
                value = context.run(fn, *args, **kwargs)
            except BaseException as exc:
                return partial(future.set_exception, exc)
            return partial(future.set_result, value)

        self._dispatch(work)
        return future

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` on a thread, awaited without a ``concurrent.futures.Future``."""
        loop = asyncio.get_running_loop()
        inbox = self._inboxes.get(loop)
        if inbox is None:
            inbox = self._inboxes[loop] = _Inbox(loop)
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()

        def work() -> _Delivery:
            try:
                value = context.run(fn, *args)
            except BaseException as exc:
                return partial(inbox.put, future, exc, None)
            return partial(inbox.put, future, None, value)

        self._dispatch(work)
        return await future

    def _dispatch(self, work: _Work) -> None:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot run more work: the worker is shutting down")
            if self._idle > 0:
                self._idle -= 1
            else:
                self._threads += 1
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-{self._threads}", daemon=True
                )
                thread.start()
        self._work.put(work)

    def _serve(self) -> None:
        while True:
            try:
                work = self._work.get(timeout=self._idle_timeout_s)
            except queue.Empty:
                with self._lock:
                    if self._idle == 0:
                        continue  # a submit just counted on this thread: stay for its work
                    self._idle -= 1
                    self._threads -= 1
                return
            if work is None:
                with self._lock:
                    self._threads -= 1
                return
            deliver = work()
            with self._lock:
                self._idle += 1  # before the hand-over, so the caller's next job finds it idle
            deliver()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Idle threads leave at once; busy ones (maybe abandoned) are not waited for."""
        with self._lock:
            self._shutdown = True
            idle = self._idle
        for _ in range(idle):
            self._work.put(None)
