"""The endpoint's worker side with a recorder and fault injection, to test workers.

It serves the same worker protocol as ``rpbuild up`` (:class:`WorkerApi` over
a :class:`JobQueue`) on 127.0.0.1, records everything a worker sends, and
injects faults per route from a seeded random generator: error answers
(500, 429, ...), dropped connections (closed without an answer, before the
request is processed) and slow answers. The tests and the benchmark drive
workers against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from builder.endpoint.queue import JobQueue
from builder.endpoint.worker_api import WorkerApi, worker_env

ROUTES = ("take", "stop", "done", "stream", "ping")
_ROUTE_OF_PATH = {
    "job-take": "take",
    "job-take-batch": "take",
    "job-stop": "stop",
    "job-done": "done",
    "job-stream": "stream",
    "ping": "ping",
}


@dataclass
class Faults:
    """Fault rates for one route, each a probability in [0, 1]."""

    error_rate: float = 0.0
    error_status: int = 500
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 0.5


@dataclass
class Post:
    job_id: str
    route: str
    is_stream: str | None
    content_type: str
    body: Any
    at: float


@dataclass
class Emulator:
    """The platform's state; serve it with :meth:`serve`."""

    api_key: str = "test-key"
    endpoint: str = "ep"
    long_poll_s: float = 1.0
    seed: int = 0
    faults: dict[str, Faults] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    result_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    chunks: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    posts: list[Post] = field(default_factory=list)
    progress: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    takes: list[dict[str, str]] = field(default_factory=list)
    take_times: list[float] = field(default_factory=list)
    pings: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    stop_answer: Any = None
    """When set, every job-stop poll is answered with this JSON at once (a misbehaving platform)."""
    bad_auth: int = 0
    injected: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._changed = asyncio.Condition()
        self.jobs = JobQueue()
        self.raw: deque[Any] = deque()
        """Jobs handed out verbatim by job-take, before queued ones: malformed jobs (no id,
        odd ids) that a worker must survive, which the real queue never makes."""
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def queue(self) -> list[Any]:
        """The jobs no worker has taken yet, raw ones first (a copy)."""
        return [*self.raw, *(record.job for record in self.jobs.pending)]

    # -- control -------------------------------------------------------------

    async def submit(self, *inputs: Any, prefix: str = "job") -> list[str]:
        return [(await self.jobs.submit(value, prefix=f"{prefix}-")).id for value in inputs]

    async def stop_job(self, job_id: str) -> None:
        """Cancel a job: its worker hears of it on the job-stop channel."""
        record = self.jobs.store.get(job_id)
        assert record is not None, f"no job {job_id}"
        await self.jobs.cancel(record)

    async def wait_results(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` distinct jobs have a final result."""
        try:
            await self.wait_for(lambda: len(self.results) >= count, timeout)
        except TimeoutError:
            raise TimeoutError(f"{len(self.results)} of {count} results after {timeout}s") from None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        """Until ``predicate()`` holds; checked on every request and every 0.1 s."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not reached in time")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.1))

    def env(self, worker_id: str = "worker-1") -> dict[str, str]:
        """The variables the platform sets for a worker pointed at this emulator."""
        return worker_env(self.base_url, self.endpoint, self.api_key, worker_id, gpu="emulated")

    # -- serving -------------------------------------------------------------

    async def serve(self, port: int = 0) -> str:
        app = web.Application(middlewares=[self._observe])
        api = WorkerApi(self.jobs, self.api_key, _ignore_contact, self.long_poll_s)
        api.add_routes(app, f"/v2/{self.endpoint}")
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _observe(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Refuse (bad key, injected fault) or record the request, then let the API answer."""
        parts = request.path.split("/")
        route = _ROUTE_OF_PATH.get(parts[3], "") if len(parts) > 3 else ""
        if request.headers.get("Authorization") != self.api_key:
            self.bad_auth += 1
        elif (refusal := await self._inject(route, request)) is not None:
            return refusal
        else:
            await self._record(route, request)
            if route == "stop" and self.stop_answer is not None:
                return web.json_response(self.stop_answer)
            if route == "take" and self.raw:
                return self._take_raw(request)
        return await handler(request)

    def _take_raw(self, request: web.Request) -> web.Response:
        if "/job-take-batch/" not in request.path:
            return web.json_response(self.raw.popleft())
        size = int(request.query.get("batch_size", "1"))
        return web.json_response([self.raw.popleft() for _ in range(min(size, len(self.raw)))])

    async def _inject(self, route: str, request: web.Request) -> web.Response | None:
        faults = self.faults.get(route)
        if faults is None:
            return None
        if self._rng.random() < faults.drop_rate:
            self.injected[f"{route}:drop"] += 1
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if self._rng.random() < faults.slow_rate:
            self.injected[f"{route}:slow"] += 1
            await asyncio.sleep(faults.slow_s)
        if self._rng.random() < faults.error_rate:
            self.injected[f"{route}:error"] += 1
            return web.Response(status=faults.error_status, text="injected")
        return None

    async def _record(self, route: str, request: web.Request) -> None:
        now = time.monotonic()
        if route == "take":
            self.takes.append(dict(request.query))
            self.take_times.append(now)
        elif route == "ping":
            self.pings.append((now, dict(request.query)))
        elif route in ("done", "stream"):
            self._record_post(route, request, json.loads(await request.read()), now)
        async with self._changed:
            self._changed.notify_all()

    def _record_post(self, route: str, request: web.Request, body: Any, now: float) -> None:
        job_id = request.match_info["job"]
        self.posts.append(
            Post(
                job_id=job_id,
                route=route,
                is_stream=request.query.get("isStream"),
                content_type=request.headers.get("Content-Type", ""),
                body=body,
                at=now,
            )
        )
        if route == "stream":
            self.chunks[job_id].append(body.get("output"))
        elif body.get("status") == "IN_PROGRESS":
            self.progress[job_id].append(body.get("output"))
        else:
            self.results.setdefault(job_id, body)
            self.result_counts[job_id] += 1


def _ignore_contact(worker_id: str, route: str, query: Mapping[str, str]) -> None:
    """The emulator keeps its own record of every request."""
