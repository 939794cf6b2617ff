"""One production job from take to post: run under its deadline, stream, post the result.

Chunks and progress go through an ordered per-job channel; the final result
is posted after that channel is drained. A job-stop cancels the job's task and
nothing more is posted for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import Executor
from typing import Any

from rpworker import progress, results
from rpworker.deadline import Ending, run_under_deadline
from rpworker.handler import is_generator
from rpworker.jobs import run_job
from rpworker.protocol import Platform
from rpworker.settings import Settings
from rpworker.shutdown import Shutdown
from rpworker.slots import Slots
from rpworker.types import Config, Job, ResultBody

log = logging.getLogger("rpworker")

current_job: contextvars.ContextVar[str] = contextvars.ContextVar("rpworker_job", default="")
"""The job a log line belongs to (the platform's JSON log lines carry it)."""

CHANNEL_BACKLOG = 1000
"""Chunks and progress updates of one job that may wait for their post."""


class _Channel:
    """One job's stream chunks and progress updates, posted in order by one task."""

    def __init__(self, platform: Platform, job_id: str) -> None:
        self._platform = platform
        self._job_id = job_id
        self._queue: asyncio.Queue[tuple[bool, bytes] | None] = asyncio.Queue(CHANNEL_BACKLOG)
        self._sender = asyncio.create_task(self._send_all())
        self._sender.add_done_callback(self._sender_ended)
        self.streamed = False

    async def chunk(self, value: Any) -> None:
        """``on_chunk`` for run_job: a chunk that cannot be posted raises and so fails the job.

        Waits while the backlog is full, so a generator cannot outrun the platform.
        """
        await self._queue.put((True, self._platform.encode({"output": value})))
        self.streamed = True

    def progress(self, value: Any) -> None:
        try:
            data = self._platform.encode({"status": "IN_PROGRESS", "output": value})
        except ValueError as exc:
            log.warning("progress update dropped: %s", exc)
            return
        try:
            self._queue.put_nowait((False, data))
        except asyncio.QueueFull:
            log.debug("progress update dropped: the job's post backlog is full")

    async def flush(self) -> None:
        await self._queue.put(None)
        await self._sender

    def discard(self) -> None:
        self._sender.cancel()

    def _sender_ended(self, sender: asyncio.Task[None]) -> None:
        if not sender.cancelled() and sender.exception() is not None:
            log.error(
                "job %s: posting its stream failed (a bug)",
                self._job_id,
                exc_info=sender.exception(),
            )

    async def _send_all(self) -> None:
        while (item := await self._queue.get()) is not None:
            is_chunk, data = item
            if is_chunk:
                await self._platform.chunk(self._job_id, data)
            else:
                await self._platform.done(self._job_id, data, is_stream=False, what="progress")


class JobRunner:
    """Runs each taken job as its own task, in a slot, under the job timeout and the grace."""

    def __init__(
        self,
        config: Config,
        settings: Settings,
        platform: Platform,
        slots: Slots,
        shutdown: Shutdown,
        executor: Executor,
    ) -> None:
        self._handler = config["handler"]
        self._aggregate = bool(config.get("return_aggregate_stream"))
        self._refresh_always = bool(config.get("refresh_worker"))
        self._streams = is_generator(self._handler)
        self._settings = settings
        self._platform = platform
        self._slots = slots
        self._shutdown = shutdown
        self._executor = executor

    def start(self, job: Job) -> None:
        job_id: str = job["id"]
        if job_id in self._slots.running:
            log.warning("job %s is already running here; duplicate ignored", job_id)
            return
        self._slots.occupy(job_id, asyncio.create_task(self._run(job_id, job)))

    async def _run(self, job_id: str, job: Job) -> None:
        current_job.set(job_id)
        channel = _Channel(self._platform, job_id)
        try:
            with progress.listening(job_id, channel.progress):
                body = await self._execute(job, channel)
            self._slots.release(job_id)
            await channel.flush()
        finally:
            channel.discard()
        if self._refresh_always:
            body["stopPod"] = True
        if body.get("stopPod"):
            self._shutdown.begin("refresh_worker")
        sent, data = results.encode(body, self._settings.max_result_bytes)
        if sent is not body:
            log.error("job %s: %s", job_id, sent["error"])
        await self._platform.done(job_id, data, is_stream=self._streams or channel.streamed)
        log.debug("job %s done", job_id)

    async def _execute(self, job: Job, channel: _Channel) -> ResultBody:
        """The handler's result, or a failure when it times out or outlives the grace."""
        work = run_job(
            self._handler,
            job,
            aggregate=self._aggregate,
            executor=self._executor,
            on_chunk=channel.chunk,
        )
        timeout = self._settings.job_timeout_s
        outcome = await run_under_deadline(work, timeout, self._shutdown.abort)
        if outcome.ending is Ending.DONE:
            assert outcome.value is not None
            return outcome.value
        if outcome.ending is Ending.ABORTED:
            return results.failed(
                f"worker shut down: the job was still running after the "
                f"{self._shutdown.grace_s:g}s grace period (RPWORKER_SHUTDOWN_GRACE)"
            )
        return results.failed(
            f'job timed out after {timeout:g}s (config "timeout" or RPWORKER_JOB_TIMEOUT)'
        )
