"""One endpoint on loopback: the queue, both APIs, the pool and the playground in one server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Mapping
from types import TracebackType

import aiohttp
from aiohttp import web

from builder.endpoint.hosted_api import HostedApi, json_errors
from builder.endpoint.launchers import Launcher, LineSink
from builder.endpoint.pool import Event, Pool, ScalerSettings
from builder.endpoint.queue import JobQueue
from builder.endpoint.worker_api import PING_INTERVAL_MS, WorkerApi, worker_env
from rpworker import playground
from rpworker.local_jobs import post_webhook
from rpworker.store import JobRecord

MAX_BODY_BYTES = 20 * 1024 * 1024
"""What the platform accepts in one request (results over this are refused)."""


class Endpoint:
    """``async with Endpoint(...) as endpoint``: serving and scaling until the block ends.

    Workers reach the endpoint on 127.0.0.1 whatever ``host`` it listens on:
    containers share the host's network, as on the platform's machines.
    """

    def __init__(
        self,
        launcher: Launcher,
        *,
        scaler: ScalerSettings | None = None,
        endpoint_id: str = "local",
        host: str = "127.0.0.1",
        port: int = 0,
        playground_input: str = playground.DEFAULT_INPUT,
        event: Event | None = None,
        sink: LineSink | None = None,
    ) -> None:
        self.endpoint_id = endpoint_id
        self.api_key = secrets.token_hex(16)
        self.host, self.port = host, port
        self.queue = JobQueue()
        self.pool = Pool(self.queue, launcher, self._env, scaler or ScalerSettings())
        if event is not None:
            self.pool.event = event
        if sink is not None:
            self.pool.sink = sink
        self.playground_input = playground_input
        self.url = ""
        """Where clients and workers reach the server, once started."""
        self._runner: web.AppRunner | None = None
        self._scaling: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhooks: set[asyncio.Task[None]] = set()

    @property
    def api_url(self) -> str:
        """``RUNPOD_ENDPOINT_BASE_URL`` for the official client."""
        return f"{self.url}/v2"

    def _env(self, worker_id: str) -> Mapping[str, str]:
        """All the platform sets: its URLs, the worker's name, the endpoint (JSON logs)."""
        return {
            **worker_env(self.url, self.endpoint_id, self.api_key, worker_id),
            "RUNPOD_POD_HOSTNAME": worker_id,
            "RUNPOD_ENDPOINT_ID": self.endpoint_id,
            "RUNPOD_PING_INTERVAL": str(PING_INTERVAL_MS),
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
        prefix = f"/v2/{self.endpoint_id}"
        WorkerApi(self.queue, self.api_key, self.pool.contact).add_routes(app, prefix)
        HostedApi(self.queue, self.pool, self.endpoint_id).add_routes(app, prefix)
        settings = {
            "base": prefix,
            "title": f"rpbuild up: endpoint {self.endpoint_id}",
            "input": self.playground_input,
            "endpoint": True,
        }
        playground.add_routes(app, settings)
        return app

    def _post_webhook(self, record: JobRecord) -> None:
        """A finished job with a ``webhook`` gets its final status posted there, as on RunPod."""
        if record.webhook is None or self._session is None:
            return
        task = asyncio.ensure_future(post_webhook(self._session, record.webhook, record))
        self._webhooks.add(task)
        task.add_done_callback(self._webhooks.discard)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.queue.on_final = self._post_webhook
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._scaling = asyncio.ensure_future(self.pool.run())

    async def wait(self) -> None:
        """Until the pool stops on its own (it raises why), or forever."""
        assert self._scaling is not None
        await self._scaling

    async def close(self) -> None:
        """Stop every worker started, then the server."""
        if self._scaling is not None and not self._scaling.done():
            self._scaling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scaling
        await self.pool.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in self._webhooks:
            task.cancel()  # a webhook that still fails at shutdown is not waited for
        await asyncio.gather(*self._webhooks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Endpoint:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()
