"""The production loop: take jobs, run them, post what they produce, shut down cleanly.

Lifecycle of a job: taken (long poll, batched when several slots are free) →
run as its own task under a timeout → its chunks and progress go through an
ordered per-job channel → the final result is posted after that channel is
drained. A job-stop cancels the task and nothing more is posted for it. On
SIGTERM/SIGINT the take poll is cancelled at once, running jobs get a grace
period, and the ones still running after it are reported failed; a second
signal ends the grace period early.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rpworker import gpu, logs, progress, results, weights
from rpworker.concurrency import ElasticExecutor
from rpworker.handler import is_generator
from rpworker.heartbeat import Heartbeat
from rpworker.jobs import run_job
from rpworker.protocol import TRANSIENT_ERRORS, Platform, PlatformError, backoff
from rpworker.settings import Settings, SettingsError, load
from rpworker.types import Config, Job, ResultBody

log = logging.getLogger("rpworker")
T = TypeVar("T")

_current_job: contextvars.ContextVar[str] = contextvars.ContextVar("rpworker_job", default="")

_POLL_ERRORS = (PlatformError, ValueError, *TRANSIENT_ERRORS)
"""Take and stop polls back off and retry on these; ValueError is a garbled JSON answer."""

CHANNEL_BACKLOG = 1000
"""Chunks and progress updates of one job that may wait for their post."""

MIN_EMPTY_POLL_S = 0.5
"""The shortest time between two polls that found nothing."""

MODIFIER_POLL_S = 0.2
"""How often a full worker asks ``concurrency_modifier`` again, so a raise applies at once."""


def run_worker(config: Config) -> int:
    """Run as a platform worker until told to stop; the process exit code."""
    try:
        settings = load(config)
    except SettingsError as exc:
        print(f"rpworker: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    return asyncio.run(Worker(config, settings).run())


class _JsonLines(logging.Formatter):
    """The SDK's platform log format, which the RunPod console parses."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        level = "WARN" if record.levelname == "WARNING" else record.levelname
        job_id = _current_job.get() or None
        return json.dumps({"requestId": job_id, "message": message, "level": level})


def _configure_logging(settings: Settings) -> None:
    """Every logger (handlers' too) to stdout, as JSON lines on the platform."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.json_logs:
        handler.setFormatter(_JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-7s| %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logs.level_number(settings.log_level))


class _Channel:
    """One job's stream chunks and progress updates, posted in order by one task."""

    def __init__(self, platform: Platform, job_id: str) -> None:
        self._platform = platform
        self._job_id = job_id
        self._queue: asyncio.Queue[tuple[bool, bytes] | None] = asyncio.Queue(CHANNEL_BACKLOG)
        self._sender = asyncio.create_task(self._send_all())
        self.streamed = False

    async def chunk(self, value: Any) -> None:
        """``on_chunk`` for run_job: an oversized chunk raises and so fails the job.

        Waits while the backlog is full, so a generator cannot outrun the platform.
        """
        await self._queue.put((True, self._platform.encode({"output": value})))
        self.streamed = True

    def progress(self, value: Any) -> None:
        try:
            data = self._platform.encode({"status": "IN_PROGRESS", "output": value})
        except (TypeError, ValueError) as exc:
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

    async def _send_all(self) -> None:
        while (item := await self._queue.get()) is not None:
            is_chunk, data = item
            if is_chunk:
                await self._platform.chunk(self._job_id, data)
            else:
                await self._platform.done(self._job_id, data, is_stream=False)


class Worker:
    def __init__(self, config: Config, settings: Settings) -> None:
        self._handler = config["handler"]
        self._aggregate = bool(config.get("return_aggregate_stream"))
        self._modifier = config.get("concurrency_modifier")
        self._refresh_always = bool(config.get("refresh_worker"))
        self._streams = is_generator(self._handler)
        self._settings = settings
        self._concurrency = 1
        self._executor = ElasticExecutor()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._running_ids: tuple[str, ...] = ()
        self._executing: set[str] = set()
        self._grace_deadline: float | None = None
        self._refreshing = False
        self._rng = random.Random()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._abort: asyncio.Future[None] = loop.create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            async with Platform.open(self._settings) as platform:
                self._platform = platform
                return await self._serve()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            self._executor.shutdown(wait=False)

    async def _startup_failure(self) -> tuple[str, str] | None:
        """Checks that must pass before the first take: ``(check, reason)`` on failure."""
        outcome = await asyncio.to_thread(gpu.check_at_startup, os.environ, production=True)
        if outcome.failed:
            return ("gpu", outcome.reason)
        try:
            await asyncio.to_thread(weights.ensure_runtime)
        except weights.WeightsError as error:
            return ("weights", str(error))
        return None

    async def _serve(self) -> int:
        failure = await self._startup_failure()
        if failure is not None:
            check, reason = failure
            log.error("startup check %s failed: %s", check, reason)
            await self._platform.ping_unhealthy(check, reason)
            return 1
        heartbeat = Heartbeat(self._settings, lambda: self._running_ids)
        heartbeat.start()
        loops = {asyncio.create_task(self._take_loop()), asyncio.create_task(self._stop_loop())}
        told = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({told, *loops}, return_when=asyncio.FIRST_COMPLETED)
            crashed = [loop.exception() for loop in loops if loop.done() and not loop.cancelled()]
            for loop in loops:
                loop.cancel()
            for exc in crashed:
                log.error("worker loop failed; stopping", exc_info=exc)
            await self._drain()
        finally:
            told.cancel()
            for loop in loops:
                loop.cancel()
            heartbeat.stop()
        log.info("worker stopped")
        return 1 if crashed else 0

    def _on_signal(self, signum: int) -> None:
        if self._grace_deadline is None:
            grace = self._settings.shutdown_grace_s
            log.info("%s: finishing running jobs (grace %gs)", signal.Signals(signum).name, grace)
            self._grace_deadline = time.monotonic() + grace
            self._stopping.set()
        else:
            log.warning("second signal: ending the grace period now")
            self._grace_deadline = time.monotonic()
        self._changed.set()

    # -- taking jobs -------------------------------------------------------

    def _consult_modifier(self) -> int:
        if self._modifier is None:
            return self._concurrency
        try:
            return max(0, int(self._modifier(self._concurrency)))
        except Exception:
            log.exception("concurrency_modifier failed; keeping concurrency %d", self._concurrency)
            return self._concurrency

    async def _free_slots(self) -> int:
        """Wait until the wanted concurrency exceeds the executing jobs; how many are free.

        A job frees its slot when its handler ends, while its result is still
        being posted; up to ``concurrency`` posts may lag behind before that
        backlog holds up new takes.
        """
        while True:
            self._concurrency = self._consult_modifier()
            posting = len(self._running) - len(self._executing)
            backlog = max(0, posting - self._concurrency)
            free = self._concurrency - len(self._executing) - backlog
            if free > 0:
                return free
            await self._slot_change()

    async def _slot_change(self) -> None:
        """Until a job starts or ends or a signal comes, or a short poll period passes."""
        self._changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), MODIFIER_POLL_S)

    async def _take_loop(self) -> None:
        while True:
            free = await self._free_slots()
            for job in await self._poll("job take", functools.partial(self._take, free)):
                self._start(job)

    async def _take(self, free: int) -> list[Job]:
        return await self._platform.take(free, in_progress=bool(self._executing))

    async def _stop_loop(self) -> None:
        """Long-poll the job-stop channel while jobs run; cancel the ones it names."""
        while True:
            if not self._running:
                self._changed.clear()
                await self._changed.wait()
                continue
            for job_id in await self._poll("job-stop poll", self._platform.jobs_to_stop):
                task = self._running.get(job_id)
                if task is not None:
                    log.info("job %s stopped by the platform", job_id)
                    task.cancel()

    async def _poll(self, what: str, poll: Callable[[], Awaitable[list[T]]]) -> list[T]:
        """One long poll, retried with backoff until it answers.

        An empty answer that came back at once is paced, so a platform that
        does not hold polls open is not hammered.
        """
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            try:
                items = await poll()
            except _POLL_ERRORS as exc:
                delay = backoff(failures, self._rng, base=0.2, cap=10)
                failures += 1
                log.warning("%s failed (%s); next try in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                continue
            if not items:
                await asyncio.sleep(max(0.0, MIN_EMPTY_POLL_S - (loop.time() - started)))
            return items

    # -- running jobs ------------------------------------------------------

    def _start(self, job: Job) -> None:
        job_id = str(job["id"])
        if job_id in self._running:
            log.warning("job %s is already running here; duplicate ignored", job_id)
            return
        task = asyncio.create_task(self._run(job_id, job))
        self._running[job_id] = task
        self._executing.add(job_id)
        self._running_ids = tuple(self._running)
        self._changed.set()  # wakes the stop poll
        task.add_done_callback(lambda _: self._finished(job_id))

    def _release(self, job_id: str) -> None:
        """The handler is done: its slot can take the next job."""
        self._executing.discard(job_id)
        self._changed.set()

    def _finished(self, job_id: str) -> None:
        self._executing.discard(job_id)
        self._running.pop(job_id, None)
        self._running_ids = tuple(self._running)
        self._changed.set()

    async def _run(self, job_id: str, job: Job) -> None:
        _current_job.set(job_id)
        channel = _Channel(self._platform, job_id)
        try:
            with progress.listening(job_id, channel.progress):
                body = await self._execute(job, channel)
            self._release(job_id)
            await channel.flush()
        finally:
            channel.discard()
        if self._refresh_always:
            body["stopPod"] = True
        if body.get("stopPod"):
            self._refresh()
        await self._platform.done(
            job_id, self._final_bytes(body), is_stream=self._streams or channel.streamed
        )
        log.debug("job %s done", job_id)

    async def _execute(self, job: Job, channel: _Channel) -> ResultBody:
        """The handler's result, or a failure when it times out or outlives the grace."""
        work = asyncio.create_task(
            run_job(
                self._handler,
                job,
                aggregate=self._aggregate,
                executor=self._executor,
                on_chunk=channel.chunk,
            )
        )
        ends: set[asyncio.Future[Any]] = {work, self._abort}
        try:
            await asyncio.wait(
                ends,
                timeout=self._settings.job_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if not work.done():
                work.cancel()
                await asyncio.wait({work}, timeout=1)
        if not work.cancelled():
            return work.result()
        if self._abort.done():
            grace = self._settings.shutdown_grace_s
            return results.failed(
                f"worker shut down: the job was still running after the {grace:g}s grace "
                "period (RPWORKER_SHUTDOWN_GRACE)"
            )
        return results.failed(
            f"job timed out after {self._settings.job_timeout_s:g}s "
            '(config "timeout" or RPWORKER_JOB_TIMEOUT)'
        )

    def _final_bytes(self, body: ResultBody) -> bytes:
        try:
            return self._platform.encode(body)
        except (TypeError, ValueError) as exc:
            log.error("%s", exc)
            failure = results.failed(str(exc))
            if body.get("stopPod"):
                failure["stopPod"] = True
            return self._platform.encode(failure)

    def _refresh(self) -> None:
        """refresh_worker: take nothing more, exit once the running jobs are posted."""
        if not self._refreshing:
            log.info("refresh_worker: exiting after the running jobs")
            self._refreshing = True
            self._stopping.set()

    async def _drain(self) -> None:
        while self._running:
            if self._grace_deadline is not None and time.monotonic() >= self._grace_deadline:
                running = len(self._running)
                log.warning("grace period over: %d running job(s) reported failed", running)
                self._abort.set_result(None)
                await asyncio.wait(set(self._running.values()))
                return
            await self._slot_change()
