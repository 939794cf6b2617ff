"""``progress_update``: route a handler's progress to the job's own channel.

The SDK starts a thread, an event loop and an HTTP session per call, and the
post can land after the final result. Here the runner that owns the job
registers a listener; progress goes through that runner's ordered channel, so
it can never overtake the result, and calling it from a sync handler's thread
only schedules work on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from rpworker.types import Job

log = logging.getLogger("rpworker")

Listener = Callable[[Any], None]

_listeners: dict[str, Listener] = {}


class _Listening:
    """A class rather than a generator context manager: it is entered once per job."""

    def __init__(self, job_id: str, listener: Listener) -> None:
        self._job_id = job_id
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def _deliver(self, progress: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._listener(progress)
        else:
            self._loop.call_soon_threadsafe(self._listener, progress)

    def __enter__(self) -> None:
        _listeners[self._job_id] = self._deliver

    def __exit__(self, *exc_info: object) -> None:
        _listeners.pop(self._job_id, None)


def listening(job_id: str, listener: Listener) -> _Listening:
    """Deliver progress of ``job_id`` to ``listener`` on the current loop while open."""
    return _Listening(job_id, listener)


def progress_update(job: Job, progress: Any) -> None:
    """Report intermediate progress of a running job (status IN_PROGRESS).

    Anything but the job dict raises, as the SDK's does (it reads ``job["id"]``),
    so the mistake fails the job instead of dropping its progress unseen.
    """
    if not isinstance(job, Mapping):
        raise TypeError(
            "progress_update(job, progress) takes the job dict the handler was given, "
            f"not {type(job).__name__}: pass the job itself"
        )
    job_id = job["id"]
    listener = _listeners.get(str(job_id))
    if listener is None:
        log.debug("progress for job %s ignored: it is not running here", job_id)
        return
    listener(progress)
