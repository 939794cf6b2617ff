"""``rp_debugger``: timings a handler records, returned in its output under ``--rp_debugger``.

``LineTimer`` (a ``with`` block) and ``FunctionTimer`` (a decorator) record
checkpoints; with the flag, a job whose output is a dict gets
``output["rp_debugger"] = {"system_info", "timestamps", "ready_delay_ms"}``,
as in the SDK. Unlike the SDK, a name timed twice in one job is recorded
twice instead of raising ``KeyError``, and the output is added in every mode
(the SDK adds it in production only).
"""

from __future__ import annotations

import datetime
import functools
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

from rpworker.handler import HandlerKind, classify
from rpworker.types import Handler, Job
from rpworker.version import __version__

IMPORTED_AT = time.perf_counter()
"""Where ``ready_delay_ms`` counts from: the SDK counts from its import too."""

OS_INFO = f"{platform.system()} {platform.release()}"
PYTHON_VERSION = platform.python_version()


def _processor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "Unable to get processor info."


PROCESSOR = _processor()


class Checkpoints:
    """The process-wide list of named timings (a singleton, as in the SDK)."""

    _instance: Checkpoints | None = None
    _lock = threading.Lock()
    checkpoints: list[dict[str, Any]]
    name_lookup: dict[str, int]

    def __new__(cls) -> Checkpoints:
        with cls._lock:
            if cls._instance is None:
                instance = object.__new__(cls)
                instance.checkpoints = []
                instance.name_lookup = {}
                cls._instance = instance
        return cls._instance

    def add(self, name: str) -> None:
        with self._lock:
            self.checkpoints.append({"name": name})
            self.name_lookup[name] = len(self.checkpoints) - 1

    def _entry(self, name: str) -> dict[str, Any]:
        if name not in self.name_lookup:
            raise KeyError(f"Checkpoint name '{name}' does not exist.")
        return self.checkpoints[self.name_lookup[name]]

    def start(self, name: str) -> None:
        entry = self._entry(name)
        entry["start"] = time.perf_counter()
        entry["start_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat() + "Z"

    def stop(self, name: str) -> None:
        entry = self._entry(name)
        if "start" not in entry:
            raise KeyError("Checkpoint has not been started.")
        entry["end"] = time.perf_counter()
        entry["stop_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat() + "Z"

    def get_checkpoints(self) -> list[dict[str, Any]]:
        """The finished checkpoints with ``duration_ms``, start/end counters removed."""
        done = []
        for entry in self.checkpoints:
            if "start" in entry and "end" in entry:
                entry["duration_ms"] = (entry.pop("end") - entry.pop("start")) * 1000
                done.append(entry)
        return done

    def clear(self) -> None:
        with self._lock:
            self.checkpoints = []
            self.name_lookup = {}


class LineTimer:
    """``with LineTimer("name"):`` records how long the block took."""

    def __init__(self, name: str) -> None:
        self.checkpoints = Checkpoints()
        self.name = name
        self.checkpoints.add(name)

    def __enter__(self) -> None:
        self.checkpoints.start(self.name)

    def __exit__(self, *exc_info: object) -> None:
        self.checkpoints.stop(self.name)


class FunctionTimer:
    """``@FunctionTimer`` records how long each call of the function took."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.checkpoints = Checkpoints()
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self.function.__name__
        self.checkpoints.add(name)
        self.checkpoints.start(name)
        try:
            return self.function(*args, **kwargs)
        finally:
            self.checkpoints.stop(name)


def get_debugger_output() -> dict[str, Any]:
    """System facts and the finished timings; the timings are cleared."""
    checkpoints = Checkpoints()
    timestamps = checkpoints.get_checkpoints()
    checkpoints.clear()
    return {
        "system_info": {
            "os": OS_INFO,
            "processor": PROCESSOR,
            "python_version": PYTHON_VERSION,
            "runpod": __version__,
        },
        "timestamps": timestamps,
    }


def clear_debugger_output() -> None:
    Checkpoints().clear()


def _attach(value: Any, ready_delay_ms: float) -> Any:
    if isinstance(value, dict):
        output = get_debugger_output()
        output["ready_delay_ms"] = ready_delay_ms
        value["rp_debugger"] = output
    return value


def with_timings(handler: Handler) -> Handler:
    """``handler`` whose dict return values carry the debugger output (``--rp_debugger``).

    Generators are returned as they are: the SDK has no output dict to add to then.
    """
    ready_delay_ms = (time.perf_counter() - IMPORTED_AT) * 1000
    kind = classify(handler)
    if kind in (HandlerKind.GENERATOR, HandlerKind.ASYNC_GENERATOR):
        return handler
    if kind is HandlerKind.COROUTINE:

        @functools.wraps(handler)
        async def timed_async(job: Job) -> Any:
            return _attach(await handler(job), ready_delay_ms)

        return timed_async

    @functools.wraps(handler)
    def timed(job: Job) -> Any:
        return _attach(handler(job), ready_delay_ms)

    return timed
