"""The production worker: settings, logging, and the parts of its lifecycle put together.

:class:`~rpworker.slots.Slots` decides how many jobs run, the
:class:`~rpworker.take_loop.TakeLoop` takes and stops them,
:class:`~rpworker.job_runner.JobRunner` runs and posts each one, and
:class:`~rpworker.shutdown.Shutdown` turns signals into a bounded drain: the
take poll is cancelled at once, running jobs get the grace period, posts a
short final flush, and what is still unposted after that is logged by job id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

from rpworker import gpu, logs, weights
from rpworker.concurrency import ElasticExecutor
from rpworker.deadline import CANCEL_WAIT_S
from rpworker.env import SettingError
from rpworker.heartbeat import Heartbeat
from rpworker.job_runner import JobRunner, current_job
from rpworker.protocol import Platform
from rpworker.settings import Settings, load, refused
from rpworker.shutdown import Shutdown
from rpworker.slots import Slots
from rpworker.take_loop import TakeLoop
from rpworker.types import Config

log = logging.getLogger("rpworker")


def run_worker(config: Config) -> int:
    """Run as a platform worker until told to stop; the process exit code."""
    try:
        settings = load(config)
    except SettingError as exc:
        return refused(exc)
    _configure_logging(settings)
    return asyncio.run(Worker(config, settings).run())


class _JsonLines(logging.Formatter):
    """The SDK's platform log format, which the RunPod console parses."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        level = "WARN" if record.levelname == "WARNING" else record.levelname
        job_id = current_job.get() or None
        return json.dumps({"requestId": job_id, "message": message, "level": level})


def _configure_logging(settings: Settings) -> None:
    """Every logger (handlers' too) to stdout, as JSON lines on the platform."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.json_logs:
        handler.setFormatter(_JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-7s| %(message)s"))
    logs.install(handler, settings.log_level)


async def _startup_failure() -> tuple[str, str] | None:
    """Checks that must pass before the first take: ``(check, reason)`` on failure."""
    outcome = await asyncio.to_thread(gpu.check_at_startup, os.environ, production=True)
    if outcome.failed:
        return ("gpu", outcome.reason)
    try:
        await asyncio.to_thread(weights.ensure_runtime)
    except weights.WeightsError as error:
        return ("weights", str(error))
    return None


class Worker:
    def __init__(self, config: Config, settings: Settings) -> None:
        self._config = config
        self._settings = settings

    async def run(self) -> int:
        slots = Slots(self._config.get("concurrency_modifier"))
        shutdown = Shutdown(self._settings.shutdown_grace_s, slots.changed.set)
        executor = ElasticExecutor()
        shutdown.install()
        try:
            async with Platform.open(self._settings) as platform:
                failure = await _startup_failure()
                if failure is not None:
                    check, reason = failure
                    log.error("startup check %s failed: %s", check, reason)
                    await platform.ping_unhealthy(check, reason)
                    return 1
                runner = JobRunner(
                    self._config, self._settings, platform, slots, shutdown, executor
                )
                return await self._serve(
                    TakeLoop(platform, slots, runner.start), slots, shutdown, platform
                )
        finally:
            shutdown.remove()
            executor.shutdown(wait=False)

    async def _serve(
        self, polls: TakeLoop, slots: Slots, shutdown: Shutdown, platform: Platform
    ) -> int:
        heartbeat = Heartbeat(self._settings, lambda: slots.ids)
        heartbeat.start()
        loops = {asyncio.create_task(polls.take()), asyncio.create_task(polls.stop())}
        told = asyncio.create_task(shutdown.stopping.wait())
        try:
            await asyncio.wait({told, *loops}, return_when=asyncio.FIRST_COMPLETED)
            crashed = [loop.exception() for loop in loops if loop.done() and not loop.cancelled()]
            for loop in loops:
                loop.cancel()
            for exc in crashed:
                log.error("worker loop failed; stopping", exc_info=exc)
            shutdown.begin("worker loop failed" if crashed else "stopping")
            await _drain(slots, shutdown, platform)
        finally:
            told.cancel()
            for loop in loops:
                loop.cancel()
            heartbeat.stop()
        log.info("worker stopped")
        return 1 if crashed else 0


async def _drain(slots: Slots, shutdown: Shutdown, platform: Platform) -> None:
    """Until every running job is posted, within the grace period and the final flush."""
    loop = asyncio.get_running_loop()
    while slots.running:
        ends = shutdown.grace_ends
        if ends is not None and loop.time() >= ends and not shutdown.abort.done():
            log.warning("grace period over: %d running job(s) reported failed", len(slots.running))
            shutdown.end_grace()
        platform.stop_posts_at = shutdown.posts_end
        posts_end = shutdown.posts_end
        if shutdown.give_up.done() or (posts_end is not None and loop.time() >= posts_end):
            for job_id, task in slots.running.items():
                log.error("job %s: result not posted: the worker shut down first", job_id)
                task.cancel()
            await asyncio.wait(set(slots.running.values()), timeout=CANCEL_WAIT_S)
            return
        await slots.change()
