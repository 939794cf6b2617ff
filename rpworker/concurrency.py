"""Threads for sync handlers: as many as run at once, and never blocking exit.

``ThreadPoolExecutor`` has a fixed maximum and joins its threads at
interpreter exit, so one sync handler stuck in a loop (abandoned after a
timeout, a job-stop or the shutdown grace) would both eat a slot for good and
hang the worker's exit. This executor starts a daemon thread whenever no idle
one is free, so the pool follows the concurrency the modifier asks for plus
any abandoned threads, and idle threads retire after a while.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Work = tuple[Future[Any], Callable[[], Any]]


class ElasticExecutor(Executor):
    def __init__(self, *, idle_timeout_s: float = 60.0, name: str = "rpworker-job") -> None:
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._shutdown = False
        self._idle_timeout_s = idle_timeout_s
        self._name = name

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
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
        context = contextvars.copy_context()  # e.g. the job id its log lines carry
        self._work.put((future, lambda: context.run(fn, *args, **kwargs)))
        return future

    def _serve(self) -> None:
        while True:
            try:
                item = self._work.get(timeout=self._idle_timeout_s)
            except queue.Empty:
                with self._lock:
                    if self._idle == 0:
                        continue  # a submit just counted on this thread: stay for its work
                    self._idle -= 1
                    self._threads -= 1
                return
            if item is None:
                with self._lock:
                    self._threads -= 1
                return
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Idle threads leave at once; busy ones (maybe abandoned) are not waited for."""
        with self._lock:
            self._shutdown = True
            idle = self._idle
        for _ in range(idle):
            self._work.put(None)
