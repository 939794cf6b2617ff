"""Running the local API's jobs: in the background, at most N at once.

Sync handlers run on job threads, one per running job (N blocking jobs really
run together while the event loop keeps answering requests); a sync job
abandoned after a timeout or a cancel keeps its thread without holding a slot.
Every job ends: whatever happens, its record gets a final status.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import aiohttp

from rpworker import codec, progress, results
from rpworker.concurrency import ElasticExecutor
from rpworker.deadline import Ending, Outcome, run_under_deadline
from rpworker.env import number
from rpworker.jobs import run_job
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
from rpworker.types import Handler, ResultBody

log = logging.getLogger("rpworker")

WEBHOOK_DELAYS_S = (0.5, 1.0, 2.0)
THREAD_PREFIX = "rpworker-job"


def busy_threads(grace_s: float) -> int:
    """Job threads still running ``grace_s`` after the pools shut down (idle ones exit)."""
    deadline = time.monotonic() + grace_s
    threads = [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in threads)


@dataclass(frozen=True)
class ApiSettings:
    """Tuning of the local API; each field is also read from ``RPWORKER_<FIELD>``."""

    concurrency: int = 1
    stream_buffer: int = 1024
    """Unread chunks kept per job; when full the oldest is dropped."""
    job_retention_s: float = 600.0
    """How long a finished job stays queryable."""
    max_finished_jobs: int = 5000
    """Finished jobs kept at most; beyond it the oldest is evicted."""
    max_finished_bytes: int = 100_000_000
    """JSON bytes of finished jobs' results (and unread chunks) kept at most."""
    runsync_wait_s: float = 90.0
    """How long ``/runsync`` waits before answering the current, non-final status."""
    stream_wait_s: float = 1.0
    """How long ``/stream`` waits for a chunk when there is none yet."""
    header_timeout_s: float = 10.0
    """How long a connection may go without a request being handled (its head, or idle)."""
    body_timeout_s: float = 30.0
    """How long a request body may take to arrive."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], **given: Any) -> ApiSettings:
        """``given`` values win; each field is read from ``RPWORKER_<FIELD>``, more than 0."""
        values = dict(given)
        defaults = cls()
        for field in fields(cls):
            if field.name not in values:
                default = getattr(defaults, field.name)
                name = f"RPWORKER_{field.name.upper()}"
                values[field.name] = number(env, name, type(default), default, above=True)
        return cls(**values)


class Jobs:
    """Runs submitted jobs in the background, at most ``concurrency`` at once."""

    def __init__(
        self,
        handler: Handler,
        aggregate: bool,
        settings: ApiSettings,
        session: aiohttp.ClientSession,
    ) -> None:
        self.handler = handler
        self.aggregate = aggregate
        self.settings = settings
        self.store = JobStore(
            buffer_size=settings.stream_buffer,
            retention_s=settings.job_retention_s,
            max_finished=settings.max_finished_jobs,
            max_bytes=settings.max_finished_bytes,
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._executor = ElasticExecutor(name=THREAD_PREFIX)
        self._background: set[asyncio.Task[None]] = set()
        self._session = session

    def submit(
        self,
        job_input: Any,
        *,
        prefix: str = "",
        webhook: str | None = None,
        timeout_s: float | None = None,
    ) -> JobRecord:
        record = self.store.add(job_input, prefix=prefix, webhook=webhook, timeout_s=timeout_s)
        record.task = task = asyncio.ensure_future(self._execute(record))
        self._background.add(task)
        return record

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        """Forget a background task; a failure (a bug) is logged, never left unretrieved."""
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed (a bug)", exc_info=task.exception())

    async def _execute(self, record: JobRecord) -> None:
        """Run the job to its end. The task leaves ``_background`` itself: a done
        callback would cost an event loop step per job."""
        try:
            try:
                async with self._slots:
                    record.begin()
                    if record.timeout_s is None:  # the usual case, without a helper's frame
                        outcome = Outcome(Ending.DONE, await self._run(record))
                    else:
                        outcome = await run_under_deadline(self._run(record), record.timeout_s)
                status, body, size = _verdict(outcome, record.timeout_s)
            except asyncio.CancelledError:
                await self.store.finish(record, CANCELLED, None, 0)
                return
            except Exception as exc:  # a bug of the runtime: the job must still end
                log.exception("job %s: the runtime failed (a bug)", record.id)
                status, body, size = FAILED, results.failed(f"internal error (a bug): {exc!r}"), 0
            await self.store.finish(record, status, body, size)
            if record.webhook:
                self._spawn(post_webhook(self._session, record.webhook, record))
        finally:
            self._background.discard(asyncio.current_task())

    async def _run(self, record: JobRecord) -> tuple[ResultBody, int]:
        """The result body as it will be answered, and its size in JSON bytes."""

        async def on_chunk(chunk: Any) -> None:
            await record.put_chunk(chunk, len(codec.dumps(chunk)))

        with progress.listening(record.id, record.set_progress):
            body = await run_job(
                self.handler,
                record.job,
                aggregate=self.aggregate,
                executor=self._executor,
                on_chunk=on_chunk,
            )
        body, data = results.encode(body)
        return body, len(data)

    async def cancel(self, record: JobRecord) -> None:
        if record.task is not None and not record.final:
            record.task.cancel()
            await asyncio.wait({record.task}, timeout=10)

    async def purge_queue(self) -> int:
        queued = [record for record in self.store.records() if record.status == IN_QUEUE]
        for record in queued:
            await self.cancel(record)
        return len(queued)

    async def cancel_all(self) -> None:
        """Shutdown: every job ends CANCELLED, so waiting clients get their final answer."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def close(self) -> None:
        await self.cancel_all()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def health(self) -> dict[str, Any]:
        records = self.store.records()
        running = sum(r.status == IN_PROGRESS for r in records)
        return {
            "jobs": {
                "completed": self.store.completed,
                "failed": self.store.failed,
                "inProgress": running,
                "inQueue": sum(r.status == IN_QUEUE for r in records),
                "retried": 0,
            },
            "workers": {"idle": self.settings.concurrency - running, "running": running},
        }


def _verdict(
    outcome: Outcome[tuple[ResultBody, int]], timeout_s: float | None
) -> tuple[str, ResultBody, int]:
    """The final status, body and its JSON size of a job that ran to an end."""
    if outcome.ending is Ending.DONE:
        assert outcome.value is not None
        body, size = outcome.value
        return FAILED if results.is_failure(body) else COMPLETED, body, size
    return TIMED_OUT, results.failed(f"job exceeded its executionTimeout ({timeout_s} s)"), 0


async def post_webhook(session: aiohttp.ClientSession, url: str, record: JobRecord) -> None:
    """POST the final status to the job's webhook; retried a little, never raises."""
    body = record.status_body()
    for attempt, delay in enumerate((0.0, *WEBHOOK_DELAYS_S), start=1):
        await asyncio.sleep(delay)
        try:
            async with session.post(url, json=body) as response:
                if response.status < 500:
                    if response.status >= 400:
                        log.warning(
                            "webhook %s refused job %s: HTTP %s",
                            url,
                            record.id,
                            response.status,
                        )
                    return
                problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            problem = str(exc) or type(exc).__name__
        log.warning("webhook %s for job %s failed (try %d): %s", url, record.id, attempt, problem)
