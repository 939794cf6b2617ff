"""Job records of the local API: status, chunk buffer, result, and eviction.

Memory stays flat on a long-running server: each job's chunk buffer is
bounded, and finished records are dropped ``retention_s`` after they end, or
sooner when more than ``max_finished`` of them, or more than ``max_bytes`` of
their JSON, are kept (oldest first). A late ``/status`` for an evicted job is
told which limit evicted it.

Buffer policy: a full buffer drops its oldest chunk, so a stalled (or absent)
``/stream`` reader never blocks the job; with ``return_aggregate_stream`` the
final output still holds every chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from typing import Any

from rpworker import codec
from rpworker.types import Job, ResultBody

log = logging.getLogger("rpworker")

IN_QUEUE = "IN_QUEUE"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TIMED_OUT = "TIMED_OUT"
FINAL = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})

_NOTHING = object()

EVICTED_IDS_KEPT = 10_000
"""Ids of evicted jobs remembered to explain a late 404 (a few hundred kB at most)."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class JobRecord:
    """One job's state; every change happens on the event loop."""

    def __init__(self, job: Job, buffer_size: int, timeout_s: float | None = None) -> None:
        self.id: str = job["id"]
        self.job = job
        url = job.get("webhook")
        self.webhook = url if isinstance(url, str) and url else None
        self.timeout_s = timeout_s
        self.status = IN_QUEUE
        self.created = time.monotonic()
        self.started: float | None = None
        self.finished: float | None = None
        self.result: ResultBody | None = None
        self.task: asyncio.Task[None] | None = None
        self._progress: Any = _NOTHING
        self._buffer_size = buffer_size
        self._chunks: deque[tuple[Any, int]] | None = None
        """Unread chunks with their JSON sizes; made by the first chunk: most jobs never stream."""
        self.chunk_bytes = 0
        self.dropped = 0
        self._condition: asyncio.Condition | None = None
        self._waiters: list[asyncio.Future[None]] | None = None

    @property
    def _changed(self) -> asyncio.Condition:
        """Made on first use: most jobs (``/runsync``, ``/run``) never stream."""
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def begin(self) -> None:
        self.status = IN_PROGRESS
        self.started = time.monotonic()

    def set_progress(self, progress: Any) -> None:
        if self.final:
            return
        try:
            codec.dumps(progress)
        except codec.NotJSON as exc:
            log.warning("job %s: progress update dropped: %s", self.id, exc)
            return
        self._progress = progress

    async def put_chunk(self, chunk: Any, size: int) -> None:
        async with self._changed:
            chunks = self._chunks
            if chunks is None:
                chunks = self._chunks = deque()
            if len(chunks) >= self._buffer_size:
                self.chunk_bytes -= chunks.popleft()[1]
                if not self.dropped:
                    log.debug("job %s: stream buffer full, dropping the oldest chunks", self.id)
                self.dropped += 1
            chunks.append((chunk, size))
            self.chunk_bytes += size
            self._changed.notify_all()

    async def take_chunks(self, wait_s: float) -> tuple[str, list[Any]]:
        """The chunks produced since the last call and the status they belong to.

        Waits up to ``wait_s`` for a chunk or the end when there is none yet.
        Both are read under one lock, so a final status with an empty list
        really means the stream is over.
        """
        async with self._changed:
            if not self._chunks and not self.final:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._chunks) or self.final), wait_s
                    )
            taken = [chunk for chunk, _ in self._chunks or ()]
            if self._chunks:
                self._chunks.clear()
                self.chunk_bytes = 0
            return self.status, taken

    async def stream_body(self, wait_s: float) -> dict[str, Any]:
        """The hosted API's ``/stream`` answer: the new chunks (see :meth:`take_chunks`)."""
        state, chunks = await self.take_chunks(wait_s)
        body: dict[str, Any] = {
            "id": self.id,
            "status": state,
            "stream": [{"output": chunk} for chunk in chunks],
        }
        if state == FAILED and self.result is not None:
            body["error"] = self.result.get("error")
        return body

    async def finish(self, status: str, result: ResultBody | None) -> None:
        """End the job at once; then wake the stream readers (their lock may be held)."""
        self._end(status, result)
        if self._condition is not None:
            async with self._condition:
                self._condition.notify_all()

    async def until_final(self, timeout_s: float) -> None:
        """Until the job ends or ``timeout_s`` passes.

        The end wakes the waiter itself: waiting on the job's task would cost
        two more event loop steps (its done callback, then the waiter), on
        every ``/runsync``.
        """
        if self.final:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        timer = loop.call_later(timeout_s, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if self._waiters is not None:
                self._waiters.remove(waiter)

    def _end(self, status: str, result: ResultBody | None) -> None:
        """Also drops what an ended job no longer needs: its input and its task.

        Finished records stay for ``retention_s``; each object they keep is
        one more for every full garbage collection to scan.
        """
        self.status = status
        self.result = result
        self.finished = time.monotonic()
        self.job = {"id": self.id}
        self.task = None
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            _wake(waiter)

    def status_body(self) -> dict[str, Any]:
        """The hosted API's status answer: id, status, timings, output or error."""
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.started is not None:
            body["delayTime"] = _ms(self.started - self.created)
            if self.finished is not None:
                body["executionTime"] = _ms(self.finished - self.started)
        if self.result is not None:
            body.update({k: self.result[k] for k in ("output", "error") if k in self.result})
        elif self.status == IN_PROGRESS and self._progress is not _NOTHING:
            body["output"] = self._progress
        return body


class JobStore:
    """Every job the local API knows, with counters for ``/health``."""

    def __init__(
        self,
        *,
        buffer_size: int,
        retention_s: float,
        max_finished: int,
        max_bytes: int,
    ) -> None:
        self.buffer_size = buffer_size
        self.retention_s = retention_s
        self.max_finished = max_finished
        self.max_bytes = max_bytes
        self._records: dict[str, JobRecord] = {}
        self._finished: OrderedDict[str, tuple[float, int]] = OrderedDict()
        """Finished job ids, oldest first, with when they ended and the bytes they hold."""
        self._finished_bytes = 0
        self._evicted: OrderedDict[str, str] = OrderedDict()
        self.completed = 0
        self.failed = 0

    def add(
        self,
        job_input: Any,
        *,
        prefix: str = "",
        webhook: str | None = None,
        timeout_s: float | None = None,
    ) -> JobRecord:
        """A new queued job; the handler sees ``webhook`` in the job, as on the platform."""
        self.evict_expired()
        job: Job = {"id": f"{prefix}{uuid.uuid4()}", "input": job_input}
        if webhook is not None:
            job["webhook"] = webhook
        record = JobRecord(job, self.buffer_size, timeout_s)
        self._records[record.id] = record
        return record

    def get(self, job_id: str) -> JobRecord | None:
        self.evict_expired()
        return self._records.get(job_id)

    def missing(self, job_id: str) -> str:
        """Why there is no record for ``job_id``: evicted by which limit, or unknown."""
        reason = self._evicted.get(job_id)
        if reason is None:
            return f"no job {job_id!r} (unknown, or finished and evicted long ago)"
        return f"no job {job_id!r} any more: finished and evicted, {reason}"

    async def finish(
        self, record: JobRecord, status: str, result: ResultBody | None, size: int
    ) -> None:
        """End a job, count it and keep it within the limits on finished jobs."""
        await record.finish(status, result)
        if status == COMPLETED:
            self.completed += 1
        elif status in (FAILED, TIMED_OUT):
            self.failed += 1
        size += record.chunk_bytes
        self._finished[record.id] = (record.finished or time.monotonic(), size)
        self._finished_bytes += size
        while len(self._finished) > self.max_finished:
            self._evict_oldest(
                f"over the {self.max_finished} finished jobs kept (RPWORKER_MAX_FINISHED_JOBS)"
            )
        while self._finished_bytes > self.max_bytes and len(self._finished) > 1:
            self._evict_oldest(
                f"over the {self.max_bytes} bytes of results kept (RPWORKER_MAX_FINISHED_BYTES)"
            )

    def _evict_oldest(self, reason: str) -> None:
        job_id, (_, size) = self._finished.popitem(last=False)
        self._finished_bytes -= size
        self._records.pop(job_id, None)
        self._evicted[job_id] = reason
        if len(self._evicted) > EVICTED_IDS_KEPT:
            self._evicted.popitem(last=False)

    def evict_expired(self) -> None:
        cutoff = time.monotonic() - self.retention_s
        while self._finished:
            finished, _ = next(iter(self._finished.values()))
            if finished > cutoff:
                break
            self._evict_oldest(f"{self.retention_s:g} s after it ended (RPWORKER_JOB_RETENTION_S)")

    def records(self) -> list[JobRecord]:
        self.evict_expired()
        return list(self._records.values())
