"""Workers as the platform runs them: started, scaled, watched, replaced.

Scaling follows RunPod's two scaler kinds:

- ``queue-delay``: one more worker whenever the oldest queued job has waited
  longer than ``scaler_value`` seconds (and none is still starting);
- ``request-count``: ``ceil((queued + running jobs) / scaler_value)`` workers.

Either way the count stays within ``[min_workers, max_workers]``, a queued
job with no worker at all starts one, and a worker idle for ``idle_timeout_s``
is stopped (SIGTERM, as the platform scales in) while more than the
target are up. A worker whose process exits, or that sends nothing (no ping,
no take) for ``silence_s``, is killed and replaced; its jobs are handled by
:meth:`JobQueue.worker_lost`. Cold start is the time from launch to the
worker's first job take, when it is ready for work.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from builder.endpoint.launchers import Launcher, LineSink, WorkerProcess
from builder.endpoint.queue import JobQueue
from builder.errors import RpbuildError

log = logging.getLogger("rpbuild.up")


GONE_KEPT = 20
"""Stopped or lost workers still listed (``/workers``, the playground)."""
MAX_FAILED_STARTS = 3
"""Workers in a row lost before ready: the image cannot start, stop retrying."""


class WorkersFailing(RpbuildError):
    """Every new worker dies before taking a job; restarting more would loop forever."""


class Scaler(str, Enum):
    QUEUE_DELAY = "queue-delay"
    REQUEST_COUNT = "request-count"


@dataclass(frozen=True)
class ScalerSettings:
    min_workers: int = 0
    max_workers: int = 3
    idle_timeout_s: float = 5.0
    scaler: Scaler = Scaler.QUEUE_DELAY
    scaler_value: float = 4.0
    """Seconds of queue delay, or jobs per worker, by ``scaler``."""
    silence_s: float = 10.0
    """A ready worker silent this long is given up."""
    start_timeout_s: float = 600.0
    """A worker not ready (no first take) this long after launch is given up."""


class State(str, Enum):
    INITIALIZING = "initializing"
    IDLE = "idle"
    RUNNING = "running"
    UNHEALTHY = "unhealthy"
    STOPPING = "stopping"


@dataclass
class Worker:
    id: str
    launched: float
    process: WorkerProcess | None = None
    ready: float | None = None
    last_seen: float = 0.0
    idle_since: float = 0.0
    stopping: bool = False
    unhealthy: str | None = None

    @property
    def cold_start_s(self) -> float | None:
        return None if self.ready is None else self.ready - self.launched


Event = Callable[[str], None]


@dataclass
class Pool:
    """The workers of one endpoint; :meth:`run` until cancelled, then :meth:`close`."""

    queue: JobQueue
    launcher: Launcher
    env_for: Callable[[str], Mapping[str, str]]
    settings: ScalerSettings = field(default_factory=ScalerSettings)
    event: Event = log.info
    sink: LineSink = lambda worker_id, line: log.debug("%s | %s", worker_id, line)
    tick_s: float = 0.2
    workers: dict[str, Worker] = field(default_factory=dict)
    gone: deque[Worker] = field(default_factory=lambda: deque(maxlen=GONE_KEPT))
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _stopping: set[asyncio.Task[None]] = field(default_factory=set)
    _failed_starts: int = 0

    # -- what the worker routes report ------------------------------------------

    def contact(self, worker_id: str, route: str, query: Mapping[str, str]) -> None:
        worker = self.workers.get(worker_id)
        if worker is None:
            return
        now = time.monotonic()
        worker.last_seen = now
        if route == "ping" and query.get("status") == "unhealthy":
            worker.unhealthy = f"{query.get('check', '?')} check failed: {query.get('reason', '')}"
        if route == "take" and worker.ready is None:
            worker.ready = worker.idle_since = now
            self._failed_starts = 0
            self.event(f"{worker.id} ready, cold start {worker.cold_start_s:.2f} s")

    def state(self, worker: Worker) -> State:
        if worker.stopping:
            return State.STOPPING
        if worker.unhealthy is not None:
            return State.UNHEALTHY
        if worker.ready is None:
            return State.INITIALIZING
        return State.RUNNING if self.queue.held_by(worker.id) else State.IDLE

    def health(self) -> dict[str, int]:
        counts = {state.value: 0 for state in State if state is not State.STOPPING}
        for worker in self.workers.values():
            state = self.state(worker)
            if state is not State.STOPPING:
                counts[state.value] += 1
        return counts

    def describe(self) -> list[dict[str, Any]]:
        """Every worker, current and gone, for the playground and ``--json``."""
        now = time.monotonic()
        rows = []
        for worker in [*self.workers.values(), *self.gone]:
            current = worker.id in self.workers
            rows.append(
                {
                    "id": worker.id,
                    "state": self.state(worker).value if current else "gone",
                    "coldStartMs": _ms(worker.cold_start_s),
                    "upMs": _ms(now - worker.launched) if current else None,
                    "jobs": self.queue.held_by(worker.id),
                    "reason": worker.unhealthy,
                }
            )
        return rows

    # -- the loop ---------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> None:
        await self.queue.expire()
        await self._reap()
        await self._scale()

    async def _reap(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers.values()):
            process = worker.process
            if process is None or worker.stopping:
                continue
            if worker.unhealthy is not None:
                reason = f"{worker.id} is unhealthy ({worker.unhealthy})"
            elif not process.alive:
                reason = f"{worker.id} exited with status {process.process.returncode}"
            elif worker.ready is None and now - worker.launched > self.settings.start_timeout_s:
                reason = f"{worker.id} not ready after {self.settings.start_timeout_s:.0f} s"
            elif worker.ready is not None and now - worker.last_seen > self.settings.silence_s:
                reason = f"{worker.id} silent for {self.settings.silence_s:.0f} s"
            else:
                if self.queue.held_by(worker.id):
                    worker.idle_since = now
                continue
            await self._lose(worker, reason)

    async def _lose(self, worker: Worker, reason: str) -> None:
        held = self.queue.held_by(worker.id)
        lost = f"; its jobs {', '.join(held)} are requeued (once) or failed" if held else ""
        self.event(reason + lost)
        del self.workers[worker.id]
        self.gone.append(worker)
        await self.queue.worker_lost(worker.id, reason)
        if worker.process is not None:
            await worker.process.kill()
            await worker.process.wait()
        tail = list(worker.process.tail) if worker.process is not None else []
        if tail:
            self.event(f"{worker.id}'s last output:\n  " + "\n  ".join(tail))
        if worker.ready is None:
            self._failed_starts += 1
            if self._failed_starts >= MAX_FAILED_STARTS:
                hint = (
                    "; without a GPU here, relax the check with --gpu-check warn"
                    if "gpu check" in reason
                    else ""
                )
                raise WorkersFailing(
                    f"{MAX_FAILED_STARTS} workers in a row failed before taking a job, "
                    f"the last: {reason}{hint}"
                )

    def target(self) -> int:
        """How many workers the scaler wants now."""
        settings = self.settings
        up = [w for w in self.workers.values() if not w.stopping]
        queued = len(self.queue.pending)
        if settings.scaler is Scaler.REQUEST_COUNT:
            wanted = math.ceil((queued + len(self.queue.running)) / settings.scaler_value)
        else:
            starting = any(w.ready is None for w in up)
            late = self.queue.oldest_wait_s() > settings.scaler_value and not starting
            busy = sum(bool(self.queue.held_by(w.id)) or w.ready is None for w in up)
            wanted = busy + (1 if late else 0)
        if queued and not up:
            wanted = max(wanted, 1)
        return max(settings.min_workers, min(settings.max_workers, wanted))

    async def _scale(self) -> None:
        up = [w for w in self.workers.values() if not w.stopping]
        wanted = self.target()
        for _ in range(wanted - len(up)):
            await self.start_worker()
        surplus = len(up) - max(wanted, self.settings.min_workers)
        now = time.monotonic()
        for worker in up:
            if surplus <= 0:
                break
            idle = self.state(worker) is State.IDLE
            if idle and now - worker.idle_since > self.settings.idle_timeout_s:
                surplus -= 1
                worker.stopping = True
                task = asyncio.ensure_future(self.stop_worker(worker, "idle"))
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)

    async def start_worker(self) -> Worker:
        worker_id = f"worker-{next(self._numbers)}"
        worker = Worker(worker_id, launched=time.monotonic())
        self.workers[worker_id] = worker
        self.event(f"{worker_id} starting: {self.launcher.description}")
        worker.process = await self.launcher.start(worker_id, self.env_for(worker_id), self.sink)
        return worker

    async def stop_worker(self, worker: Worker, why: str) -> None:
        worker.stopping = True
        self.event(f"{worker.id} stopping ({why})")
        if worker.process is not None:
            code = await worker.process.stop()
            self.event(f"{worker.id} stopped (status {code})")
        self.workers.pop(worker.id, None)
        self.gone.append(worker)
        await self.queue.worker_lost(worker.id, f"{worker.id} was stopped")

    async def kill_all(self) -> None:
        """A second Ctrl-C: no more grace for anyone."""
        for worker in list(self.workers.values()):
            if worker.process is not None:
                await worker.process.kill()

    async def close(self) -> None:
        """Stop every worker this pool started, all at once; nothing is left running."""
        await asyncio.gather(*self._stopping, return_exceptions=True)
        await asyncio.gather(
            *(self.stop_worker(w, "shutting down") for w in list(self.workers.values())),
            return_exceptions=True,
        )


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
