"""A stand-in for RunPod's job platform, for the tests and the benchmark.

It speaks the worker protocol (job-take, job-take-batch, job-stop, job-done,
job-stream, ping) on 127.0.0.1, keeps a queue of jobs, records everything the
worker sends, and injects faults per route from a seeded random generator:
error answers (500, 429, ...), dropped connections (closed without an answer,
before the request is processed) and slow answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ROUTES = ("take", "stop", "done", "stream", "ping")


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
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    results: dict[str, Any] = field(default_factory=dict)
    result_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    chunks: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    posts: list[Post] = field(default_factory=list)
    progress: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    takes: list[dict[str, str]] = field(default_factory=list)
    take_times: list[float] = field(default_factory=list)
    pings: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    stop_requests: set[str] = field(default_factory=set)
    stop_answer: Any = None
    """When set, every job-stop poll is answered with this JSON at once (a misbehaving platform)."""
    bad_auth: int = 0
    injected: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._submitted = 0
        self._work = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- control -------------------------------------------------------------

    async def submit(self, *inputs: Any, prefix: str = "job") -> list[str]:
        ids = []
        async with self._work:
            for value in inputs:
                self._submitted += 1
                job_id = f"{prefix}-{self._submitted}"
                self.queue.append({"id": job_id, "input": value})
                ids.append(job_id)
            self._work.notify_all()
        return ids

    async def stop_job(self, job_id: str) -> None:
        async with self._work:
            self.stop_requests.add(job_id)
            self._work.notify_all()

    async def wait_results(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` distinct jobs have a final result."""
        try:
            await self.wait_for(lambda: len(self.results) >= count, timeout)
        except TimeoutError:
            raise TimeoutError(f"{len(self.results)} of {count} results after {timeout}s") from None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        """Until ``predicate()`` holds; checked on every change and every 0.1 s."""
        deadline = time.monotonic() + timeout
        async with self._work:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not reached in time")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._work.wait(), min(left, 0.1))

    def env(self, worker_id: str = "worker-1") -> dict[str, str]:
        """The variables the platform sets for a worker pointed at this emulator."""
        base = f"{self.base_url}/v2/{self.endpoint}"
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{base}/job-take/$ID?gpu=emulated",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/job-done/$RUNPOD_POD_ID/$ID?gpu=emulated",
            "RUNPOD_WEBHOOK_POST_STREAM": f"{base}/job-stream/$RUNPOD_POD_ID/$ID?gpu=emulated",
            "RUNPOD_WEBHOOK_PING": f"{base}/ping/$RUNPOD_POD_ID",
            "RUNPOD_AI_API_KEY": self.api_key,
            "RUNPOD_POD_ID": worker_id,
        }

    # -- serving -------------------------------------------------------------

    async def serve(self, port: int = 0) -> str:
        app = web.Application()
        v2 = f"/v2/{self.endpoint}"
        app.router.add_get(v2 + "/job-take/{worker}", self._take)
        app.router.add_get(v2 + "/job-take-batch/{worker}", self._take)
        app.router.add_get(v2 + "/job-stop/{worker}", self._stop)
        app.router.add_post(v2 + "/job-done/{worker}/{job}", self._done)
        app.router.add_post(v2 + "/job-stream/{worker}/{job}", self._stream)
        app.router.add_get(v2 + "/ping/{worker}", self._ping)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _gate(self, route: str, request: web.Request) -> web.Response | None:
        """An answer refusing this request (bad key, injected fault), or None to process it."""
        if request.headers.get("Authorization") != self.api_key:
            self.bad_auth += 1
            return web.Response(status=401)
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

    async def _take(self, request: web.Request) -> web.StreamResponse:
        if (refusal := await self._gate("take", request)) is not None:
            return refusal
        query = dict(request.query)
        self.takes.append(query)
        self.take_times.append(time.monotonic())
        batch = "job-take-batch" in request.path
        size = int(query.get("batch_size", "1")) if batch else 1
        async with self._work:
            if not await self._long_poll(lambda: bool(self.queue)):
                return web.Response(status=204)
            jobs = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
        return web.json_response(jobs if batch else jobs[0])

    async def _long_poll(self, ready: Callable[[], bool]) -> bool:
        """Hold the request (lock held) until ``ready()`` or the long-poll time passes."""
        try:
            await asyncio.wait_for(self._work.wait_for(ready), self.long_poll_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def _stop(self, request: web.Request) -> web.StreamResponse:
        if (refusal := await self._gate("stop", request)) is not None:
            return refusal
        if self.stop_answer is not None:
            return web.json_response(self.stop_answer)
        async with self._work:
            if not await self._long_poll(lambda: bool(self.stop_requests)):
                return web.Response(status=204)
            ids = sorted(self.stop_requests)
            self.stop_requests.clear()
        return web.json_response({"jobsToStop": ids})

    async def _record(self, route: str, request: web.Request) -> web.Response:
        if (refusal := await self._gate(route, request)) is not None:
            return refusal
        raw = await request.read()
        body = json.loads(raw)
        job_id = request.match_info["job"]
        post = Post(
            job_id=job_id,
            route=route,
            is_stream=request.query.get("isStream"),
            content_type=request.headers.get("Content-Type", ""),
            body=body,
            at=time.monotonic(),
        )
        async with self._work:
            self.posts.append(post)
            if route == "stream":
                self.chunks[job_id].append(body.get("output"))
            elif body.get("status") == "IN_PROGRESS":
                self.progress[job_id].append(body.get("output"))
            else:
                self.results.setdefault(job_id, body)
                self.result_counts[job_id] += 1
            self._work.notify_all()
        return web.json_response({})

    async def _done(self, request: web.Request) -> web.Response:
        return await self._record("done", request)

    async def _stream(self, request: web.Request) -> web.Response:
        return await self._record("stream", request)

    async def _ping(self, request: web.Request) -> web.Response:
        if (refusal := await self._gate("ping", request)) is not None:
            return refusal
        async with self._work:
            self.pings.append((time.monotonic(), dict(request.query)))
            self._work.notify_all()
        return web.Response(status=200)
