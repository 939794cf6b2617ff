"""The production worker's two long polls: take jobs while slots are free, stop the named ones.

Each poll is retried with backoff until it answers; an empty answer that
came back at once is paced, so a platform that does not hold polls open is
not hammered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rpworker.protocol import TRANSIENT_ERRORS, Platform, PlatformError, backoff
from rpworker.slots import Slots
from rpworker.types import Job

log = logging.getLogger("rpworker")
T = TypeVar("T")

POLL_ERRORS = (PlatformError, ValueError, *TRANSIENT_ERRORS)
"""Take and stop polls back off and retry on these; ValueError is an answer that is not JSON."""

MIN_EMPTY_POLL_S = 0.5
"""The shortest time between two polls that found nothing."""


class TakeLoop:
    def __init__(self, platform: Platform, slots: Slots, start: Callable[[Job], None]) -> None:
        self._platform = platform
        self._slots = slots
        self._start = start
        self._rng = random.Random()

    async def take(self) -> None:
        """Forever: wait for free slots, take up to that many jobs, start them."""
        while True:
            free = await self._slots.free()
            for job in await self._poll("job take", functools.partial(self._take, free)):
                self._start(job)

    async def _take(self, free: int) -> list[Job]:
        return await self._platform.take(free, in_progress=self._slots.busy)

    async def stop(self) -> None:
        """Forever: long-poll the job-stop channel while jobs run; cancel the ones it names."""
        while True:
            if not self._slots.running:
                self._slots.changed.clear()
                await self._slots.changed.wait()
                continue
            for job_id in await self._poll("job-stop poll", self._platform.jobs_to_stop):
                task = self._slots.running.get(job_id)
                if task is not None:
                    log.info("job %s stopped by the platform", job_id)
                    task.cancel()

    async def _poll(self, what: str, poll: Callable[[], Awaitable[list[T]]]) -> list[T]:
        """One long poll, retried with backoff until it answers."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            try:
                items = await poll()
            except POLL_ERRORS as exc:
                delay = backoff(failures, self._rng, base=0.2, cap=10)
                failures += 1
                log.warning("%s failed (%s); next try in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                continue
            if not items:
                await asyncio.sleep(max(0.0, MIN_EMPTY_POLL_S - (loop.time() - started)))
            return items
