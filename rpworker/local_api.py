"""The local API: the hosted endpoint's routes and JSON, really running jobs.

Unlike the SDK's local server, ``/run`` starts the job at once, ``/stream``
answers with chunks as they are produced, N jobs really run at once (sync
handlers on a pool of N threads), and bad requests get a 4xx with a message.
Every route answers on ``/ROUTE`` and ``/v2/{endpoint_id}/ROUTE``, to GET and POST
(add a route by adding it to :data:`ROUTES`).

Stopping (SIGINT/SIGTERM) stops accepting, cancels every job so clients
waiting on ``/runsync`` or ``/stream`` get their final answer, then closes.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from rpworker import codec, playground
from rpworker.connections import IdleConnections
from rpworker.env import SettingError
from rpworker.flags import Flags
from rpworker.local_jobs import ApiSettings, Jobs, busy_threads
from rpworker.store import JobRecord
from rpworker.types import Config, Handler

log = logging.getLogger("rpworker")

GpuFacts = Callable[[], "dict[str, Any] | None"]
View = Callable[[web.Request], Awaitable[web.Response]]
METHODS = ("GET", "POST")
MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_WAIT_MS = 300_000
SHUTDOWN_TIMEOUT_S = 3.0
"""How long answers still being written get at shutdown (Docker waits 10 s)."""
CLIENT_LEFT = (ConnectionError, aiohttp.ClientPayloadError)
"""What reading a request raises when its client went away mid-body."""


class ApiError(Exception):
    """A request the API refuses, answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


JOBS = web.AppKey("jobs", Jobs)
GPU_FACTS: web.AppKey[GpuFacts | None] = web.AppKey("gpu_facts")
CONNECTIONS = web.AppKey("connections", IdleConnections)


def _jobs(request: web.Request) -> Jobs:
    return request.app[JOBS]


async def _read_request(request: web.Request) -> dict[str, Any]:
    """The job request body ``{"input": {...}, "webhook"?, "policy"?}``, checked."""
    if request.content.is_eof():  # the usual case: it came with the head, read it in place
        raw = request.content.read_nowait()
        if len(raw) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw))
    else:
        timeout_s = _jobs(request).settings.body_timeout_s
        try:
            raw = await asyncio.wait_for(request.read(), timeout_s)
        except asyncio.TimeoutError:
            message = f"request body not received within {timeout_s:g} s (RPWORKER_BODY_TIMEOUT_S)"
            raise ApiError(408, message) from None
    example = 'send {"input": {...}}'
    if not raw.strip():
        raise ApiError(400, f"request body is empty: {example}")
    try:
        body = codec.loads(raw)
    except codec.NotJSON as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc}): {example}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"request body must be a JSON object: {example}")
    if "input" not in body:
        raise ApiError(400, f'request body has no "input": {example}')
    if not isinstance(body["input"], dict):
        kind = type(body["input"]).__name__
        raise ApiError(400, f'"input" must be a JSON object, got {kind}: {example}')
    if "webhook" in body and not isinstance(body["webhook"], str):
        raise ApiError(400, '"webhook" must be a URL string')
    return body


def _timeout_s(body: dict[str, Any]) -> float | None:
    policy = body.get("policy") or {}
    timeout_ms = policy.get("executionTimeout") if isinstance(policy, dict) else None
    if timeout_ms is None:
        return None
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
        raise ApiError(400, '"policy.executionTimeout" must be a whole number of milliseconds > 0')
    return timeout_ms / 1000


async def _submit(request: web.Request, prefix: str = "") -> JobRecord:
    body = await _read_request(request)
    return _jobs(request).submit(
        body["input"], prefix=prefix, webhook=body.get("webhook"), timeout_s=_timeout_s(body)
    )


def _record(request: web.Request) -> JobRecord:
    job_id = request.match_info["job_id"]
    store = _jobs(request).store
    record = store.get(job_id)
    if record is None:
        raise ApiError(404, store.missing(job_id))
    return record


def _wait_s(request: web.Request) -> float:
    raw = request.query.get("wait")
    if raw is None:
        return _jobs(request).settings.runsync_wait_s
    if not raw.isdigit() or int(raw) > MAX_WAIT_MS:
        raise ApiError(400, f"wait must be milliseconds from 0 to {MAX_WAIT_MS}, got {raw!r}")
    return int(raw) / 1000


async def on_run(request: web.Request) -> web.Response:
    record = await _submit(request)
    return web.json_response({"id": record.id, "status": record.status})


async def on_runsync(request: web.Request) -> web.Response:
    wait_s = _wait_s(request)
    record = await _submit(request, prefix="sync-")
    await record.until_final(wait_s)
    return web.json_response(record.status_body())


async def on_status(request: web.Request) -> web.Response:
    return web.json_response(_record(request).status_body())


async def on_stream(request: web.Request) -> web.Response:
    wait_s = _jobs(request).settings.stream_wait_s
    return web.json_response(await _record(request).stream_body(wait_s))


async def on_cancel(request: web.Request) -> web.Response:
    record = _record(request)
    await _jobs(request).cancel(record)
    return web.json_response({"id": record.id, "status": record.status})


async def on_health(request: web.Request) -> web.Response:
    body = _jobs(request).health()
    facts = request.app[GPU_FACTS]
    if facts is not None:
        try:
            body["gpu"] = facts()
        except Exception as exc:
            log.exception("the GPU facts provider failed")
            body["gpu"] = {"error": f"GPU facts unavailable: {exc}"}
    return web.json_response(body)


async def on_purge_queue(request: web.Request) -> web.Response:
    removed = await _jobs(request).purge_queue()
    return web.json_response({"removed": removed, "status": "completed"})


ROUTES: dict[str, View] = {
    "/run": on_run,
    "/runsync": on_runsync,
    "/status/{job_id}": on_status,
    "/stream/{job_id}": on_stream,
    "/cancel/{job_id}": on_cancel,
    "/health": on_health,
    "/purge-queue": on_purge_queue,
}


def _json_errors(view: View, connections: IdleConnections) -> View:
    """Every refusal is ``{"error": message}`` with a 4xx; never an HTML page.

    A wrapper of each view, not a middleware: with any middleware at all,
    aiohttp runs every request through two more layers (one of them a
    generator context manager), a cost /runsync feels. A catch-all route
    sends what no route takes through here too. It also tells ``connections``
    which connections have a request in hand.
    """

    @functools.wraps(view)
    async def answer(request: web.Request) -> web.Response:
        connection = request.protocol
        connections.started(connection)
        try:
            if request.method not in METHODS:
                raise web.HTTPMethodNotAllowed(request.method, METHODS)
            return await view(request)
        except ApiError as exc:
            response = web.json_response({"error": exc.message}, status=exc.status)
            if exc.status == 408:
                response.force_close()
            return response
        except web.HTTPException as exc:
            return _refusal(request, exc)
        except CLIENT_LEFT as exc:
            log.debug("client left during %s %s: %r", request.method, request.path, exc)
            return web.json_response({"error": "client left"}, status=400)
        except Exception as exc:
            log.exception("bug answering %s %s", request.method, request.path)
            return web.json_response({"error": f"internal error (a bug): {exc!r}"}, status=500)
        finally:
            connections.ended(connection)

    return answer


def _refusal(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (no route, body too large, ...) as ``{"error": ...}``."""
    if isinstance(exc, web.HTTPNotFound):
        routes = ", ".join(ROUTES)
        message = f"no route {request.path}; routes: {routes} (also under /v2/ENDPOINT_ID)"
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        message = f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB"
    else:
        message = f"{exc.reason}: {request.method} {request.path}"
    return web.json_response({"error": message}, status=exc.status)


async def _no_route(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def create_app(
    handler: Handler,
    *,
    aggregate: bool = False,
    settings: ApiSettings | None = None,
    gpu_facts: GpuFacts | None = None,
) -> web.Application:
    """The local API app; ``gpu_facts`` feeds the ``gpu`` key of ``/health``."""
    settings = settings or ApiSettings()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[GPU_FACTS] = gpu_facts
    app[CONNECTIONS] = connections = IdleConnections(settings.header_timeout_s)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            app[JOBS] = jobs = Jobs(handler, aggregate, settings, session)
            yield
            await jobs.close()

    async def end_jobs(app: web.Application) -> None:
        """Before waiting for open requests: their jobs end, so they answer at once."""
        await app[JOBS].cancel_all()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(end_jobs)
    for path, view in ROUTES.items():
        for prefix in ("", "/v2/{endpoint_id}"):
            app.router.add_route("*", prefix + path, _json_errors(view, connections))
    playground.add_routes(app, playground.local_api_settings())
    app.router.add_route("*", "/{path:.*}", _json_errors(_no_route, connections))
    return app


async def serve(
    app: web.Application,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` until cancelled; ``ready`` gets the base URL once bound."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    sweep = None
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if CONNECTIONS in app and runner.server is not None:
            sweep = asyncio.ensure_future(app[CONNECTIONS].sweep(runner.server))
        bound_host, bound_port = runner.addresses[0][:2]
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        if ready is not None:
            ready(f"http://{url_host}:{bound_port}")
        await asyncio.Event().wait()
    finally:
        if sweep is not None:
            sweep.cancel()
        await runner.cleanup()


def _announce(url: str) -> None:
    print(f"rpworker: local API listening on {url}", file=sys.stderr, flush=True)


async def _serve_until_signal(app: web.Application, flags: Flags) -> None:
    server = asyncio.ensure_future(serve(app, flags.api_host, flags.api_port, ready=_announce))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.cancel)
    try:
        await server
    except asyncio.CancelledError:
        log.info("local API stopped")


def run(config: Config, flags: Flags, gpu_facts: GpuFacts | None = None) -> int:
    """``--rp_serve_api``: serve until SIGINT/SIGTERM; 0 on a clean stop."""
    try:
        settings = ApiSettings.from_env(os.environ, concurrency=flags.api_concurrency)
    except SettingError as exc:
        print(f"rpworker: error: {exc}", file=sys.stderr)
        return 2
    app = create_app(
        config["handler"],
        aggregate=bool(config.get("return_aggregate_stream")),
        settings=settings,
        gpu_facts=gpu_facts,
    )
    try:
        # What is alive now (modules, the handler and its model) lives to the end:
        # exempt it from full collections, which run ever more often as finished
        # jobs pile up for /status and would rescan all of it each time.
        gc.freeze()
        asyncio.run(_serve_until_signal(app, flags))
    except OSError as exc:
        where = f"{flags.api_host}:{flags.api_port}"
        message = f"cannot serve on {where} ({exc}); pick another --rp_api_port"
        print(f"rpworker: error: {message}", file=sys.stderr)
        return 2
    _exit_if_handlers_hang()
    return 0


def _exit_if_handlers_hang() -> None:
    """A sync handler cannot be interrupted: a stopped server must not wait for it."""
    busy = busy_threads(grace_s=1.0)
    if busy:
        log.warning("stopping without waiting for %d running sync handler(s)", busy)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
