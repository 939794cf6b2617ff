"""The platform's side of the worker protocol: job-take, job-stop, job-done, job-stream, ping.

Workers find these routes through the ``RUNPOD_WEBHOOK_*`` variables
:func:`worker_env` makes, and authenticate with the raw API key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from builder.endpoint.queue import JobQueue
from rpworker import codec

Contact = Callable[[str, str, Mapping[str, str]], None]
"""``contact(worker_id, route, query)``: called on every authenticated worker request."""

PING_INTERVAL_MS = 1000
"""Workers ping this often here (the platform's 10 s would make silence slow to see)."""


def worker_env(
    base_url: str, endpoint_id: str, api_key: str, worker_id: str, gpu: str = "local"
) -> dict[str, str]:
    """The variables that point a worker at this platform (``gpu`` is the take URL's tag)."""
    base = f"{base_url}/v2/{endpoint_id}"
    return {
        "RUNPOD_WEBHOOK_GET_JOB": f"{base}/job-take/$ID?gpu={gpu}",
        "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/job-done/$RUNPOD_POD_ID/$ID?gpu={gpu}",
        "RUNPOD_WEBHOOK_POST_STREAM": f"{base}/job-stream/$RUNPOD_POD_ID/$ID?gpu={gpu}",
        "RUNPOD_WEBHOOK_PING": f"{base}/ping/$RUNPOD_POD_ID",
        "RUNPOD_AI_API_KEY": api_key,
        "RUNPOD_POD_ID": worker_id,
    }


class WorkerApi:
    """The routes, over ``queue``; ``contact`` tells the pool a worker is alive."""

    def __init__(
        self, queue: JobQueue, api_key: str, contact: Contact, long_poll_s: float = 5.0
    ) -> None:
        self.queue = queue
        self.api_key = api_key
        self.contact = contact
        self.long_poll_s = long_poll_s

    def add_routes(self, app: web.Application, prefix: str) -> None:
        app.router.add_get(prefix + "/job-take/{worker}", self._take)
        app.router.add_get(prefix + "/job-take-batch/{worker}", self._take)
        app.router.add_get(prefix + "/job-stop/{worker}", self._stop)
        app.router.add_post(prefix + "/job-done/{worker}/{job}", self._done)
        app.router.add_post(prefix + "/job-stream/{worker}/{job}", self._stream)
        app.router.add_get(prefix + "/ping/{worker}", self._ping)

    def _worker(self, request: web.Request, route: str) -> str:
        if request.headers.get("Authorization") != self.api_key:
            raise web.HTTPUnauthorized(text="wrong RUNPOD_AI_API_KEY")
        worker_id = request.match_info["worker"]
        self.contact(worker_id, route, request.query)
        return worker_id

    async def _take(self, request: web.Request) -> web.Response:
        worker_id = self._worker(request, "take")
        batch = "/job-take-batch/" in request.path
        size = _count(request.query.get("batch_size", "1")) if batch else 1
        jobs = await self.queue.take(worker_id, size, self.long_poll_s)
        if not jobs:
            return web.Response(status=204)
        return web.json_response(jobs if batch else jobs[0])

    async def _stop(self, request: web.Request) -> web.Response:
        worker_id = self._worker(request, "stop")
        ids = await self.queue.jobs_to_stop(worker_id, self.long_poll_s)
        return web.json_response({"jobsToStop": ids}) if ids else web.Response(status=204)

    async def _done(self, request: web.Request) -> web.Response:
        worker_id = self._worker(request, "done")
        body, size = await _json_object(request)
        await self.queue.done(worker_id, request.match_info["job"], body, size)
        return web.json_response({})

    async def _stream(self, request: web.Request) -> web.Response:
        worker_id = self._worker(request, "stream")
        body, size = await _json_object(request)
        await self.queue.chunk(worker_id, request.match_info["job"], body.get("output"), size)
        return web.json_response({})

    async def _ping(self, request: web.Request) -> web.Response:
        self._worker(request, "ping")
        return web.Response(status=200)


def _count(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise web.HTTPBadRequest(text=f"batch_size must be a whole number >= 1, got {raw!r}")
    return int(raw)


async def _json_object(request: web.Request) -> tuple[dict[str, Any], int]:
    """The posted object and its size in bytes."""
    raw = await request.read()
    try:
        body = codec.loads(raw)
    except codec.NotJSON as exc:
        raise web.HTTPBadRequest(text=f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body, len(raw)
