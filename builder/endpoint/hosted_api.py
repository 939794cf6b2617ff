"""The hosted endpoint API clients call: ``/v2/{endpoint_id}/run``, ``runsync``, ...

Same routes, JSON and statuses as RunPod's, so ``runpod.Endpoint`` with
``RUNPOD_ENDPOINT_BASE_URL`` pointed here works unchanged. ``/health`` counts
workers in the platform's states; ``/workers`` (rpbuild's own) lists them
with their cold starts, for the playground.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from builder.endpoint.pool import Pool
from builder.endpoint.queue import JobQueue
from rpworker.store import JobRecord

RUNSYNC_WAIT_S = 90.0
STREAM_WAIT_S = 1.0
MAX_WAIT_MS = 300_000
_EXAMPLE = 'send {"input": {...}}'


def _refuse(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}[status]
    return cls(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every refusal is ``{"error": message}``, never an HTML page."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        message = exc.text if exc.text and exc.text != exc.reason else f"{exc.reason}"
        return web.json_response(
            {"error": f"{message}: {request.method} {request.path}"}, status=exc.status
        )


class HostedApi:
    """The client-facing routes of endpoint ``endpoint_id``."""

    def __init__(self, queue: JobQueue, pool: Pool, endpoint_id: str) -> None:
        self.queue = queue
        self.pool = pool
        self.endpoint_id = endpoint_id

    def add_routes(self, app: web.Application, prefix: str) -> None:
        routes: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
            "/run": self._run,
            "/runsync": self._runsync,
            "/status/{job_id}": self._status,
            "/stream/{job_id}": self._stream,
            "/cancel/{job_id}": self._cancel,
            "/health": self._health,
            "/purge-queue": self._purge,
            "/workers": self._workers,
        }
        for path, view in routes.items():
            app.router.add_route("*", prefix + path, view)

    async def _submit(self, request: web.Request, prefix: str = "") -> JobRecord:
        body = await _job_request(request)
        policy = body.get("policy") or {}
        timeout_ms = policy.get("executionTimeout") if isinstance(policy, dict) else None
        if timeout_ms is not None and (not isinstance(timeout_ms, int) or timeout_ms <= 0):
            raise _refuse(400, '"policy.executionTimeout" must be whole milliseconds > 0')
        return await self.queue.submit(
            body["input"],
            prefix=prefix,
            webhook=body.get("webhook"),
            timeout_s=None if timeout_ms is None else timeout_ms / 1000,
        )

    def _record(self, request: web.Request) -> JobRecord:
        job_id = request.match_info["job_id"]
        record = self.queue.store.get(job_id)
        if record is None:
            raise _refuse(404, self.queue.store.missing(job_id))
        return record

    async def _run(self, request: web.Request) -> web.Response:
        record = await self._submit(request)
        return web.json_response({"id": record.id, "status": record.status})

    async def _runsync(self, request: web.Request) -> web.Response:
        raw = request.query.get("wait")
        if raw is not None and (not raw.isdigit() or int(raw) > MAX_WAIT_MS):
            raise _refuse(400, f"wait must be milliseconds from 0 to {MAX_WAIT_MS}, got {raw!r}")
        record = await self._submit(request, prefix="sync-")
        await self.queue.wait_final(record, RUNSYNC_WAIT_S if raw is None else int(raw) / 1000)
        return web.json_response(record.status_body())

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self._record(request).status_body())

    async def _stream(self, request: web.Request) -> web.Response:
        return web.json_response(await self._record(request).stream_body(STREAM_WAIT_S))

    async def _cancel(self, request: web.Request) -> web.Response:
        record = self._record(request)
        await self.queue.cancel(record)
        return web.json_response({"id": record.id, "status": record.status})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"jobs": self.queue.health(), "workers": self.pool.health()})

    async def _purge(self, request: web.Request) -> web.Response:
        removed = await self.queue.purge()
        return web.json_response({"removed": removed, "status": "completed"})

    async def _workers(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "workers": self.pool.describe(),
                "queue": {
                    "length": len(self.queue.pending),
                    "oldestWaitMs": round(self.queue.oldest_wait_s() * 1000),
                },
                "scaler": self.pool.settings.scaler.value,
                "minWorkers": self.pool.settings.min_workers,
                "maxWorkers": self.pool.settings.max_workers,
            }
        )


async def _job_request(request: web.Request) -> dict[str, Any]:
    """The body ``{"input": {...}, "webhook"?, "policy"?}``, checked."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise _refuse(400, f"request body is not valid JSON ({exc}): {_EXAMPLE}") from None
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        raise _refuse(400, f'request body must be a JSON object with an object "input": {_EXAMPLE}')
    return body
