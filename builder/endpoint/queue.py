"""The endpoint's jobs: queued, handed to workers, streamed, finished, lost.

Records are the runtime's own (:class:`rpworker.store.JobRecord`), so status
bodies, chunk buffers and timings are exactly what the local API answers.

A job whose worker is lost (the process died, or it stopped pinging) goes
back to the front of the queue and counts in ``/health``'s ``jobs.retried``
(the platform's counter of such retries); lost a second time, it fails with an
error saying so rather than looping on a job that kills its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rpworker import results
from rpworker.local_jobs import ApiSettings
from rpworker.store import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    IN_QUEUE,
    TIMED_OUT,
    JobRecord,
    JobStore,
)
from rpworker.types import Job, ResultBody

MAX_ATTEMPTS = 2
"""A job is given to at most this many workers before a lost worker fails it."""


@dataclass
class Assignment:
    """A running job and the worker that holds it."""

    record: JobRecord
    worker_id: str
    job: Job
    """The job as taken (the record drops its input once it ends)."""
    deadline: float | None


class JobQueue:
    """Every job of one endpoint; all changes happen on the event loop."""

    def __init__(self, settings: ApiSettings | None = None) -> None:
        """``settings``: the local API's limits on buffered chunks and finished jobs."""
        limits = settings or ApiSettings()
        self.store = JobStore(
            buffer_size=limits.stream_buffer,
            retention_s=limits.job_retention_s,
            max_finished=limits.max_finished_jobs,
            max_bytes=limits.max_finished_bytes,
        )
        self.pending: deque[JobRecord] = deque()
        self.running: dict[str, Assignment] = {}
        self.retried = 0
        self._attempts: dict[str, int] = {}
        self._stops: dict[str, set[str]] = {}
        self._changed = asyncio.Condition()
        self.on_final: Callable[[JobRecord], None] | None = None
        """Called once per job as it ends (the endpoint posts its webhook)."""

    # -- the hosted side -----------------------------------------------------

    async def submit(
        self,
        job_input: Any,
        *,
        prefix: str = "",
        webhook: str | None = None,
        timeout_s: float | None = None,
    ) -> JobRecord:
        record = self.store.add(job_input, prefix=prefix, webhook=webhook, timeout_s=timeout_s)
        async with self._changed:
            self.pending.append(record)
            self._changed.notify_all()
        return record

    async def cancel(self, record: JobRecord) -> None:
        """Drop a queued job, or ask its worker to stop it (job-stop); final at once."""
        await self._end(record, CANCELLED, None)

    async def purge(self) -> int:
        """Cancel every queued job (running ones go on); how many were removed."""
        queued = list(self.pending)
        for record in queued:
            await self._end(record, CANCELLED, None)
        return len(queued)

    async def wait_final(self, record: JobRecord, timeout_s: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: record.final), timeout_s)

    def oldest_wait_s(self) -> float:
        """How long the oldest queued job has waited (0 with an empty queue)."""
        return time.monotonic() - self.pending[0].created if self.pending else 0.0

    def health(self) -> dict[str, int]:
        return {
            "completed": self.store.completed,
            "failed": self.store.failed,
            "inProgress": len(self.running),
            "inQueue": len(self.pending),
            "retried": self.retried,
        }

    # -- the worker side -----------------------------------------------------

    async def take(self, worker_id: str, count: int, wait_s: float) -> list[Job]:
        """Up to ``count`` jobs for ``worker_id``, waiting up to ``wait_s`` for one."""
        async with self._changed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.pending)), wait_s)
            taken: list[Job] = []
            while self.pending and len(taken) < count:
                record = self.pending.popleft()
                record.begin()
                job = dict(record.job)
                deadline = None if record.timeout_s is None else time.monotonic() + record.timeout_s
                self.running[record.id] = Assignment(record, worker_id, job, deadline)
                self._attempts[record.id] = self._attempts.get(record.id, 0) + 1
                taken.append(job)
            self._changed.notify_all()
            return taken

    async def jobs_to_stop(self, worker_id: str, wait_s: float) -> list[str]:
        async with self._changed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._stops.get(worker_id))), wait_s
                )
            return sorted(self._stops.pop(worker_id, ()))

    async def done(self, worker_id: str, job_id: str, body: ResultBody, size: int) -> None:
        """A result (or an ``IN_PROGRESS`` update, ``size`` JSON bytes) from the job's worker.

        A post for a job this worker no longer holds (cancelled, timed out,
        handed to another worker after this one was given up) is ignored.
        """
        assignment = self.running.get(job_id)
        if assignment is None or assignment.worker_id != worker_id:
            return
        if body.get("status") == IN_PROGRESS:
            assignment.record.set_progress(body.get("output"))
            return
        status = FAILED if results.is_failure(body) else COMPLETED
        await self._end(assignment.record, status, body, size)

    async def chunk(self, worker_id: str, job_id: str, output: Any, size: int) -> None:
        assignment = self.running.get(job_id)
        if assignment is not None and assignment.worker_id == worker_id:
            await assignment.record.put_chunk(output, size)

    def held_by(self, worker_id: str) -> list[str]:
        return [job_id for job_id, a in self.running.items() if a.worker_id == worker_id]

    async def worker_lost(self, worker_id: str, reason: str) -> None:
        """Requeue (once) or fail the jobs of a worker that is gone."""
        self._stops.pop(worker_id, None)
        for job_id in self.held_by(worker_id):
            assignment = self.running.pop(job_id)
            record = assignment.record
            if self._attempts.get(job_id, 0) >= MAX_ATTEMPTS:
                message = f"{reason}; the job was lost with {MAX_ATTEMPTS} workers, not retried"
                await self._finish(record, FAILED, results.failed(message))
                continue
            self.retried += 1
            record.status, record.started = IN_QUEUE, None
            record.job = assignment.job
            async with self._changed:
                self.pending.appendleft(record)
                self._changed.notify_all()

    async def expire(self, now: Callable[[], float] = time.monotonic) -> None:
        """Time out running jobs past their ``policy.executionTimeout``."""
        for assignment in list(self.running.values()):
            if assignment.deadline is not None and now() > assignment.deadline:
                timeout = assignment.record.timeout_s
                message = f"job exceeded its executionTimeout ({timeout} s)"
                await self._end(assignment.record, TIMED_OUT, results.failed(message))

    # -- ending --------------------------------------------------------------

    async def _end(
        self, record: JobRecord, status: str, body: ResultBody | None, size: int = 0
    ) -> None:
        if record.final:
            return
        assignment = self.running.pop(record.id, None)
        if assignment is not None and status in (CANCELLED, TIMED_OUT):
            self._stops.setdefault(assignment.worker_id, set()).add(record.id)
        if record.status == IN_QUEUE:  # only a queued record is in pending: skip the O(n) scan
            self.pending.remove(record)
        await self._finish(record, status, body, size)

    async def _finish(
        self, record: JobRecord, status: str, body: ResultBody | None, size: int = 0
    ) -> None:
        """``size``: the result's JSON bytes, counted against the store's limits."""
        self._attempts.pop(record.id, None)
        await self.store.finish(record, status, body, size)
        async with self._changed:
            self._changed.notify_all()
        if self.on_final is not None:
            self.on_final(record)
