"""Running the local API's jobs: in the background, at most N at once.

Sync handlers run on job threads, one per running job (N blocking jobs really
run together while the event loop keeps answering requests); a sync job
abandoned after a timeout or a cancel keeps its thread without holding a slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import aiohttp

from rpworker import progress, results
from rpworker.concurrency import ElasticExecutor
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
    """Chunks kept per job (see :mod:`rpworker.store` for the policy when full)."""
    job_retention_s: float = 600.0
    """How long a finished job stays queryable."""
    runsync_wait_s: float = 90.0
    """How long ``/runsync`` waits before answering the current, non-final status."""
    stream_wait_s: float = 1.0
    """How long ``/stream`` waits for a chunk when there is none yet."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], **given: Any) -> ApiSettings:
        values = dict(given)
        for field in fields(cls):
            name = f"RPWORKER_{field.name.upper()}"
            if field.name in values or not env.get(name):
                continue
            kind = int if field.type in ("int", int) else float
            try:
                values[field.name] = kind(env[name])
            except ValueError:
                expected = "a whole number" if kind is int else "a number"
                raise ValueError(f"{name}={env[name]!r} must be {expected}") from None
            if values[field.name] <= 0:
                raise ValueError(f"{name}={env[name]!r} must be more than 0")
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
            buffer_size=settings.stream_buffer, retention_s=settings.job_retention_s
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
        record.task = self._spawn(self._execute(record))
        return record

    async def wait(self, record: JobRecord, timeout_s: float) -> None:
        """Until ``record`` ends or ``timeout_s`` passes.

        ``asyncio.wait`` does the same with more bookkeeping (sets, a
        coroutine), on every ``/runsync``.
        """
        task = record.task
        if task is None:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = loop.call_later(timeout_s, wake)
        task.add_done_callback(wake)
        try:
            await waiter
        finally:
            timer.cancel()
            task.remove_done_callback(wake)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _execute(self, record: JobRecord) -> None:
        try:
            async with self._slots:
                record.begin()
                try:
                    running = self._run(record)
                    if record.timeout_s is not None:
                        running = asyncio.wait_for(running, record.timeout_s)
                    body = await running
                    status = FAILED if results.is_failure(body) else COMPLETED
                except asyncio.TimeoutError:
                    body = results.failed(
                        f"job exceeded its executionTimeout ({record.timeout_s} s)"
                    )
                    status = TIMED_OUT
        except asyncio.CancelledError:
            await self.store.finish(record, CANCELLED, None)
            return
        await self.store.finish(record, status, body)
        if record.webhook:
            self._spawn(self._post_webhook(record.webhook, record))

    async def _run(self, record: JobRecord) -> ResultBody:
        async def on_chunk(chunk: Any) -> None:
            json.dumps(chunk)
            await record.put_chunk(chunk)

        with progress.listening(record.id, record.set_progress):
            body = await run_job(
                self.handler,
                record.job,
                aggregate=self.aggregate,
                executor=self._executor,
                on_chunk=on_chunk,
            )
        try:
            json.dumps(body)
        except (TypeError, ValueError) as exc:
            return results.failed(f"the handler's output is not JSON-serializable: {exc}")
        return body

    async def cancel(self, record: JobRecord) -> None:
        if record.task is not None and not record.final:
            record.task.cancel()
            await asyncio.wait({record.task}, timeout=10)

    async def purge_queue(self) -> int:
        queued = [record for record in self.store.records() if record.status == IN_QUEUE]
        for record in queued:
            await self.cancel(record)
        return len(queued)

    async def _post_webhook(self, url: str, record: JobRecord) -> None:
        """POST the final status to the job's webhook; retried a little, never raises."""
        body = record.status_body()
        for attempt, delay in enumerate((0.0, *WEBHOOK_DELAYS_S), start=1):
            await asyncio.sleep(delay)
            try:
                async with self._session.post(url, json=body) as response:
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
            log.warning(
                "webhook %s for job %s failed (try %d): %s", url, record.id, attempt, problem
            )

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
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
