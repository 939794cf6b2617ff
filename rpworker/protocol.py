"""The platform client: job take, job stop, results, stream chunks, health pings.

One ``aiohttp.ClientSession`` carries every request; the API key is a session
header (the raw key, no "Bearer") and nothing job-specific is ever stored on
the session. Posts retry only errors named transient (connection errors,
timeouts, 429, 5xx) with exponential backoff and full jitter, inside a bounded
total time that also ends at the shutdown deadline; any other answer is final
and logged, never retried.

Every answer of the platform is untrusted: each job must carry a usable id (a
string, or a number, of at most 512 characters) and an ``input``; job-stop
answers must list ids. A job that cannot be run is logged and skipped; a
malformed answer is logged once per kind of problem (then at debug level).
Job ids are percent-encoded wherever they enter a URL.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from rpworker import codec, result_urls, results
from rpworker.settings import Settings
from rpworker.types import Job, ResultBody
from rpworker.version import __version__

log = logging.getLogger("rpworker")

JSON_HEADERS = {"Content-Type": "application/json"}
TRANSIENT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)
MAX_ID_CHARS = 512


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
    """Replace the URL placeholders: ``$ID`` is the job id, or the worker id on take URLs.

    Both are percent-encoded: an id such as ``a/../x?y=`` must not change the path.
    """
    worker = quote(worker_id, safe="")
    url = template.replace("$RUNPOD_POD_ID", worker)
    return url.replace("$ID", quote(job_id, safe="") if job_id is not None else worker)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def job_id_of(item: Any) -> str | None:
    """The usable id of one job (a string or number, 1-512 characters), else None."""
    if not isinstance(item, dict):
        return None
    raw = item.get("id")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    job_id = str(raw)
    return job_id if 0 < len(job_id) <= MAX_ID_CHARS else None


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
        self.stop_posts_at: float | None = None
        """Loop time at which shutdown ends every retry (set by the shutdown)."""
        self._reported: set[str] = set()

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
        if not isinstance(payload, (dict, list)):
            self._reject(
                "take", f"job-take answer is not a job or a list of jobs: {_shown(payload)}"
            )
            return []
        jobs = []
        for item in payload if isinstance(payload, list) else [payload]:
            job_id = job_id_of(item)
            if job_id is None:
                log.warning("job without a usable id skipped: %s", _shown(item))
            elif "input" not in item:
                log.warning("job %s has no input; skipped", job_id)
            else:
                jobs.append(item if item["id"] is job_id else {**item, "id": job_id})
        return jobs

    async def jobs_to_stop(self) -> list[str]:
        """One long poll on the job-stop channel: the ids the platform wants cancelled."""
        url = fill(self.settings.take_url, self.settings.worker_id)
        url = url.replace("/job-take-batch/", "/job-stop/").replace("/job-take/", "/job-stop/")
        payload = await self._poll(url)
        if payload is None:
            return []
        listed = payload.get("jobsToStop") if isinstance(payload, dict) else None
        if not isinstance(listed, list):
            self._reject("stop", f"job-stop answer has no jobsToStop list: {_shown(payload)}")
            return []
        ids = [job_id_of({"id": item}) for item in listed]
        if None in ids:
            self._reject("stop-id", f"job-stop answer lists unusable ids: {_shown(listed)}")
        return [job_id for job_id in ids if job_id is not None]

    def _reject(self, kind: str, message: str) -> None:
        """Log a bad platform answer: a warning the first time per kind, then debug lines."""
        if kind in self._reported:
            log.debug("%s", message)
        else:
            self._reported.add(kind)
            log.warning("%s (further ones are logged at debug level)", message)

    async def _poll(self, url: str) -> Any:
        async with self._session.get(url, timeout=self._poll_timeout) as resp:
            if resp.status in (204, 400):
                return None
            if resp.status != 200:
                raise PlatformError(f"HTTP {resp.status} from {resp.url.path}")
            body = await resp.read()
        return codec.loads(body) if body.strip() else None

    # -- results -----------------------------------------------------------

    def encode(self, body: ResultBody) -> bytes:
        """JSON bytes for a chunk or progress post: :class:`codec.NotJSON` or
        :class:`ResultTooLarge` for what the platform would not take."""
        data = codec.dumps(body)
        limit = self.settings.max_result_bytes
        if len(data) > limit:
            raise ResultTooLarge(results.too_large(len(data), limit))
        return data

    async def done(
        self, job_id: str, data: bytes, *, is_stream: bool, what: str = "result"
    ) -> bool:
        """Post a final result (or an IN_PROGRESS update) to job-done."""
        url = fill(result_urls.done_url(self.settings.done_url), self.settings.worker_id, job_id)
        query = {"isStream": str(is_stream).lower()}
        return await self._post(job_id, what, with_query(url, query), data)

    async def chunk(self, job_id: str, data: bytes) -> bool:
        url = fill(
            result_urls.stream_url(self.settings.stream_url), self.settings.worker_id, job_id
        )
        return await self._post(job_id, "stream chunk", with_query(url, {"isStream": "true"}), data)

    async def _post(self, job_id: str, what: str, url: str, data: bytes) -> bool:
        """Deliver ``data`` or give up; True when accepted.

        Retries end after the retry budget, or at the shutdown deadline
        (:attr:`stop_posts_at`), whichever comes first; each attempt is cut
        off at that deadline too.
        """
        loop = asyncio.get_running_loop()
        budget_end = loop.time() + self.settings.retry_budget_s
        attempt = 0
        while True:
            deadline = min(budget_end, self.stop_posts_at or budget_end)
            left = deadline - loop.time()
            timeout = self._post_timeout
            if left < (timeout.total or left):
                timeout = aiohttp.ClientTimeout(total=max(left, 0.001))
            try:
                async with self._session.post(
                    url, data=data, headers=JSON_HEADERS, timeout=timeout
                ) as resp:
                    await resp.read()
                    if resp.status < 300:
                        return True
                    reason = f"HTTP {resp.status}"
                    if not _transient_status(resp.status):
                        self._not_posted(job_id, what, url, f"{reason}, not retried")
                        return False
            except TRANSIENT_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            delay = backoff(attempt, self._rng)
            attempt += 1
            if loop.time() + delay > deadline:
                hint = (
                    "the worker is shutting down"
                    if deadline < budget_end
                    else "raise RPWORKER_RETRY_SECONDS to retry longer"
                )
                self._not_posted(job_id, what, url, f"{attempt} attempt(s), last: {reason}; {hint}")
                return False
            log.debug(
                "job %s: %s post failed (%s), retry %d in %.2fs",
                job_id,
                what,
                reason,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)

    @staticmethod
    def _not_posted(job_id: str, what: str, url: str, reason: str) -> None:
        path = url.split("?", 1)[0]
        log.error("job %s: %s not posted to %s (%s)", job_id, what, path, reason)

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
