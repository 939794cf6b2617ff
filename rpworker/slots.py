"""The production worker's job slots: how many jobs may run, and which ones do.

A job holds its slot while its handler runs; it frees the slot when the
handler ends, while its result is still being posted, so the next take is not
held up by a slow post. Up to ``concurrency`` posts may lag behind before that
backlog holds up new takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("rpworker")

MODIFIER_POLL_S = 0.2
"""How often a full worker asks ``concurrency_modifier`` again, so a raise applies at once."""


class Slots:
    def __init__(self, modifier: Callable[[int], int] | None) -> None:
        self._modifier = modifier
        self.concurrency = 1
        self.running: dict[str, asyncio.Task[None]] = {}
        """Every job not finished yet, posting included."""
        self._executing: set[str] = set()
        self.ids: tuple[str, ...] = ()
        """The running ids, as a tuple the heartbeat thread can read at any time."""
        self.changed = asyncio.Event()

    @property
    def busy(self) -> bool:
        """Whether a handler is running (the take poll's ``job_in_progress``)."""
        return bool(self._executing)

    def _consult_modifier(self) -> int:
        if self._modifier is None:
            return self.concurrency
        try:
            return max(0, int(self._modifier(self.concurrency)))
        except Exception:
            log.exception("concurrency_modifier failed; keeping concurrency %d", self.concurrency)
            return self.concurrency

    async def free(self) -> int:
        """Wait until the wanted concurrency exceeds the running handlers; how many are free."""
        while True:
            self.concurrency = self._consult_modifier()
            posting = len(self.running) - len(self._executing)
            backlog = max(0, posting - self.concurrency)
            free = self.concurrency - len(self._executing) - backlog
            if free > 0:
                return free
            await self.change()

    async def change(self) -> None:
        """Until a job starts or ends or a signal comes, or a short poll period passes."""
        self.changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.changed.wait(), MODIFIER_POLL_S)

    def occupy(self, job_id: str, task: asyncio.Task[None]) -> None:
        self.running[job_id] = task
        self._executing.add(job_id)
        self.ids = tuple(self.running)
        self.changed.set()
        task.add_done_callback(lambda done: self._finished(job_id, done))

    def release(self, job_id: str) -> None:
        """The handler is done: its slot can take the next job."""
        self._executing.discard(job_id)
        self.changed.set()

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._executing.discard(job_id)
        self.running.pop(job_id, None)
        self.ids = tuple(self.running)
        self.changed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("job %s: the runtime failed (a bug)", job_id, exc_info=task.exception())
