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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rpworker.types import Job

log = logging.getLogger("rpworker")

Listener = Callable[[Any], None]

_listeners: dict[str, Listener] = {}


@contextmanager
def listening(job_id: str, listener: Listener) -> Iterator[None]:
    """Deliver progress of ``job_id`` to ``listener`` on the current loop while open."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def deliver(progress: Any) -> None:
        if threading.get_ident() == loop_thread:
            listener(progress)
        else:
            loop.call_soon_threadsafe(listener, progress)

    _listeners[job_id] = deliver
    try:
        yield
    finally:
        _listeners.pop(job_id, None)


def progress_update(job: Job, progress: Any) -> None:
    """Report intermediate progress of a running job (status IN_PROGRESS)."""
    listener = _listeners.get(str(job.get("id")))
    if listener is None:
        log.debug("progress for job %s ignored: it is not running here", job.get("id"))
        return
    listener(progress)
