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
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from concurrent.futures import Executor
from enum import Enum
from typing import Any

from rpworker.concurrency import ElasticExecutor
from rpworker.types import Handler, Job

_DONE = object()


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


def _off_loop(executor: Executor | None, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """``fn(*args)`` on an executor thread (an elastic one hands results back cheaper)."""
    if isinstance(executor, ElasticExecutor):
        return executor.run(fn, *args)
    return asyncio.get_running_loop().run_in_executor(executor, fn, *args)


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


def _as_stream(value: Any, executor: Executor | None) -> AsyncGenerator[Any, Any] | None:
    """The chunks of a streamed return value, or None when it is a single value.

    An async generator is handed over as it is, so closing the stream closes it.
    """
    if inspect.isasyncgen(value):
        return value
    if inspect.isgenerator(value):
        return _iterate_off_loop(value, executor)
    return None


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
    if kind is HandlerKind.FUNCTION:
        value = await _off_loop(executor, handler, job)
    else:
        value = handler(job)
    while inspect.isawaitable(value):
        value = await value
    stream = _as_stream(value, executor)
    if stream is not None:
        return CallOutcome(stream=stream)
    return CallOutcome(value=value)
