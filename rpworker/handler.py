"""One async interface over every kind of user handler.

The reference SDK runs sync handlers on the event loop and misses generators
hidden behind ``functools.partial`` or ``__call__``; here each kind is
recognised once, blocking code always runs on an executor thread, and a plain
function that happens to return a coroutine or a generator is still driven
correctly, because the kind is confirmed from what the call returns.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import types
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from concurrent.futures import Executor
from enum import Enum
from typing import Any, TypeVar, cast

from rpworker.concurrency import ElasticExecutor
from rpworker.types import Handler, Job

log = logging.getLogger("rpworker")

T = TypeVar("T")

_DONE = object()

BLOCKED_LOOP_WARN_S = 1.0
"""An ``async def`` handler step longer than this blocked everything else: say so."""


class HandlerKind(Enum):
    FUNCTION = "function"
    COROUTINE = "coroutine"
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async_generator"


def _target(handler: Handler) -> Any:
    """The function whose code decides the kind (through partials and __call__)."""
    target: Any = handler
    while isinstance(target, functools.partial):
        target = target.func
    if not inspect.isroutine(target) and not inspect.isclass(target) and callable(target):
        target = type(target).__call__
    return inspect.unwrap(target)


def classify(handler: Handler) -> HandlerKind:
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {type(handler).__name__}")
    target = _target(handler)
    if inspect.isasyncgenfunction(target):
        return HandlerKind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(target):
        return HandlerKind.GENERATOR
    if inspect.iscoroutinefunction(target):
        return HandlerKind.COROUTINE
    return HandlerKind.FUNCTION


@functools.lru_cache(maxsize=64)
def _cached_kind(handler: Handler) -> HandlerKind:
    return classify(handler)


def _kind(handler: Handler) -> HandlerKind:
    """The kind, looked up once per handler: inspecting it costs more than an echo job."""
    try:
        return _cached_kind(handler)
    except TypeError:  # an unhashable callable object
        return classify(handler)


def is_generator(handler: Handler) -> bool:
    return classify(handler) in (HandlerKind.GENERATOR, HandlerKind.ASYNC_GENERATOR)


class ThreadExit(Exception):
    """A ``GeneratorExit`` raised by handler code on a job thread, carried back as data.

    Delivered through a future as it is, asyncio would throw it into the
    awaiting coroutine, where it closes the whole chain instead of failing the job.
    """

    def __init__(self, raised: GeneratorExit) -> None:
        super().__init__(repr(raised))
        self.raised = raised


def _carry_exits(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except GeneratorExit as exc:
        raise ThreadExit(exc) from None


def _off_loop(executor: Executor | None, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """``fn(*args)`` on an executor thread (an elastic one hands results back cheaper)."""
    if isinstance(executor, ElasticExecutor):
        return executor.run(_carry_exits, fn, *args)
    return asyncio.get_running_loop().run_in_executor(executor, _carry_exits, fn, *args)


async def _iterate_off_loop(
    gen: Generator[Any, Any, Any], executor: Executor | None
) -> AsyncGenerator[Any, None]:
    try:
        while True:
            item = await _off_loop(executor, next, gen, _DONE)
            if item is _DONE:
                return
            yield item
    finally:
        gen.close()


def _as_stream(
    value: Any, executor: Executor | None, watch: _LoopWatch
) -> AsyncGenerator[Any, Any] | None:
    """The chunks of a streamed return value, or None when it is a single value.

    Closing the stream closes the handler's generator.
    """
    if inspect.isasyncgen(value):
        return _watched_stream(value, watch)
    if inspect.isgenerator(value):
        return _iterate_off_loop(value, executor)
    return None


class _LoopWatch:
    """Times each step an ``async`` handler runs on the loop; warns once per job."""

    __slots__ = ("_handler", "_warned")

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._warned = False

    def check(self, seconds: float) -> None:
        if seconds < BLOCKED_LOOP_WARN_S or self._warned:
            return
        self._warned = True
        target = _target(self._handler)
        name = getattr(target, "__qualname__", None) or repr(self._handler)
        log.warning(
            "async handler %s blocked the event loop for %.1fs: no other job, request or "
            "timeout could run meanwhile. Make it a plain `def` (it then runs on a thread), "
            "or await the slow call (e.g. `await asyncio.to_thread(fn, ...)`)",
            name,
            seconds,
        )


@types.coroutine
def _watched(awaitable: Awaitable[T], watch: _LoopWatch) -> Generator[Any, Any, T]:
    """``await awaitable``, timing every step it runs on the loop."""
    steps = awaitable.__await__()
    value: Any = None
    error: BaseException | None = None
    while True:
        started = time.perf_counter()
        try:
            yielded = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            watch.check(time.perf_counter() - started)
        try:
            value, error = (yield yielded), None
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # cancellation included: handed on to the handler
            value, error = None, exc


async def _watched_stream(
    stream: AsyncGenerator[Any, Any], watch: _LoopWatch
) -> AsyncGenerator[Any, None]:
    try:
        while True:
            try:
                item = await _watched(stream.__anext__(), watch)
            except StopAsyncIteration:
                return
            yield item
    finally:
        await stream.aclose()


class CallOutcome:
    """What calling a handler produced: a single value or a stream of chunks."""

    def __init__(self, value: Any = None, stream: AsyncGenerator[Any, Any] | None = None) -> None:
        self.value = value
        self.stream = stream


async def call(handler: Handler, job: Job, executor: Executor | None = None) -> CallOutcome:
    """Call ``handler`` without ever blocking the loop.

    Plain functions run on ``executor``; what they return is inspected, so an
    awaitable is awaited and a generator is streamed (iterated off the loop).
    """
    kind = _kind(handler)
    watch = _LoopWatch(handler)
    if kind is HandlerKind.FUNCTION:
        value = await _off_loop(executor, handler, job)
    else:
        value = handler(job)
    while inspect.isawaitable(value):
        value = await _watched(value, watch)
    stream = _as_stream(value, executor, watch)
    if stream is not None:
        return CallOutcome(stream=stream)
    return CallOutcome(value=value)
