"""The platform client: job take, job stop, results, stream chunks, health pings.

One ``aiohttp.ClientSession`` carries every request; the API key is a session
header (the raw key, no "Bearer") and nothing job-specific is ever stored on
the session. Posts retry only errors named transient (connection errors,
timeouts, 429, 5xx) with exponential backoff and full jitter, inside a bounded
total time; any other answer is final and logged, never retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp

from rpworker import result_urls
from rpworker.settings import Settings
from rpworker.types import Job, ResultBody
from rpworker.version import __version__

log = logging.getLogger("rpworker")

JSON_HEADERS = {"Content-Type": "application/json"}
TRANSIENT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class PlatformError(Exception):
    """The platform answered a take or stop poll with an unexpected status."""


class ResultTooLarge(ValueError):
    """A result or chunk exceeds what the platform accepts (it would answer 400)."""


def with_query(url: str, params: Mapping[str, object]) -> str:
    """Append parameters: the platform's URLs often carry a query string already."""
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode({k: str(v) for k, v in params.items()})


def fill(template: str, worker_id: str, job_id: str | None = None) -> str:
    """Replace the URL placeholders: ``$ID`` is the job id, or the worker id on take URLs."""
    url = template.replace("$RUNPOD_POD_ID", worker_id)
    return url.replace("$ID", job_id if job_id is not None else worker_id)


def ping_url(
    settings: Settings, job_ids: list[str], extra: Mapping[str, object] | None = None
) -> str:
    """The heartbeat URL; ``job_id`` is omitted when nothing runs, as the platform expects."""
    assert settings.ping_url is not None
    params: dict[str, object] = {"job_id": ",".join(job_ids)} if job_ids else {}
    params.update(extra or {})
    params["runpod_version"] = __version__
    return with_query(fill(settings.ping_url, settings.worker_id), params)


def backoff(attempt: int, rng: random.Random, *, base: float = 0.05, cap: float = 5.0) -> float:
    """Exponential backoff with full jitter, so many workers never retry in lockstep."""
    return rng.uniform(0, min(cap, base * 2**attempt))


def _transient_status(status: int) -> bool:
    return status == 429 or status >= 500


class Platform:
    """Talks to the platform for one worker; create with :meth:`open`."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self._session = session
        self._rng = random.Random()
        self._post_timeout = aiohttp.ClientTimeout(total=30)
        self._poll_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=10, sock_read=settings.take_timeout_s
        )

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Platform]:
        headers = {"Authorization": settings.api_key} if settings.api_key else {}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            yield cls(settings, session)

    # -- taking work -------------------------------------------------------

    async def take(self, batch_size: int, *, in_progress: bool) -> list[Job]:
        """One long poll for up to ``batch_size`` jobs; ``[]`` when there is none."""
        url = fill(self.settings.take_url, self.settings.worker_id)
        params: dict[str, object] = {"job_in_progress": int(in_progress)}
        if batch_size > 1:
            url = url.replace("/job-take/", "/job-take-batch/")
            params["batch_size"] = batch_size
        payload = await self._poll(with_query(url, params))
        if payload is None:
            return []
        jobs = payload if isinstance(payload, list) else [payload]
        return [job for job in jobs if isinstance(job, dict) and "id" in job]

    async def jobs_to_stop(self) -> list[str]:
        """One long poll on the job-stop channel: the ids the platform wants cancelled."""
        url = fill(self.settings.take_url, self.settings.worker_id)
        url = url.replace("/job-take-batch/", "/job-stop/").replace("/job-take/", "/job-stop/")
        payload = await self._poll(url)
        if not isinstance(payload, dict):
            return []
        return [str(job_id) for job_id in payload.get("jobsToStop") or []]

    async def _poll(self, url: str) -> Any:
        async with self._session.get(url, timeout=self._poll_timeout) as resp:
            if resp.status in (204, 400):
                return None
            if resp.status != 200:
                raise PlatformError(f"HTTP {resp.status} from {resp.url.path}")
            body = await resp.read()
        return json.loads(body) if body.strip() else None

    # -- results -----------------------------------------------------------

    def encode(self, body: ResultBody) -> bytes:
        """JSON bytes for a post, refusing what the platform would reject for size."""
        try:
            data = json.dumps(body).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the handler's output is not JSON-serialisable: {exc}") from None
        limit = self.settings.max_result_bytes
        if len(data) > limit:
            raise ResultTooLarge(
                f"result is {len(data)} bytes, over the platform's limit of {limit} bytes "
                "(RPWORKER_MAX_RESULT_BYTES): return less, or upload large outputs "
                "to storage and return a URL"
            )
        return data

    async def done(self, job_id: str, data: bytes, *, is_stream: bool) -> bool:
        """Post a final result (or an IN_PROGRESS update) to job-done."""
        url = fill(result_urls.done_url(self.settings.done_url), self.settings.worker_id, job_id)
        return await self._post(with_query(url, {"isStream": str(is_stream).lower()}), data)

    async def chunk(self, job_id: str, data: bytes) -> bool:
        template = result_urls.stream_url(self.settings.stream_url)
        url = fill(template, self.settings.worker_id, job_id)
        return await self._post(with_query(url, {"isStream": "true"}), data)

    async def _post(self, url: str, data: bytes) -> bool:
        """Deliver ``data`` or give up after the retry budget; True when accepted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.retry_budget_s
        attempt = 0
        while True:
            try:
                async with self._session.post(
                    url, data=data, headers=JSON_HEADERS, timeout=self._post_timeout
                ) as resp:
                    await resp.read()
                    if resp.status < 300:
                        return True
                    if not _transient_status(resp.status):
                        log.error("platform refused a post (HTTP %s), not retried", resp.status)
                        return False
                    reason = f"HTTP {resp.status}"
            except TRANSIENT_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"
            delay = backoff(attempt, self._rng)
            attempt += 1
            if loop.time() + delay > deadline:
                log.error(
                    "post abandoned after %d attempts (%s); raise RPWORKER_RETRY_SECONDS "
                    "to retry longer",
                    attempt,
                    reason,
                )
                return False
            log.debug("post failed (%s), retry %d in %.2fs", reason, attempt, delay)
            await asyncio.sleep(delay)

    # -- health ------------------------------------------------------------

    async def ping_unhealthy(self, check: str, reason: str) -> None:
        """Tell the platform this worker failed a startup check (one ping, no retry)."""
        if self.settings.ping_url is None:
            return
        url = ping_url(self.settings, [], {"status": "unhealthy", "check": check, "reason": reason})
        try:
            async with self._session.get(url, timeout=self._post_timeout) as resp:
                await resp.read()
        except TRANSIENT_ERRORS as exc:
            log.warning("could not report the failed %s check: %s", check, exc)
