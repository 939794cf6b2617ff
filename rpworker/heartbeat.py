"""The health ping, on its own thread so busy handlers can never starve it.

The platform kills a worker whose pings stop. A ping scheduled on the event
loop stops whenever a handler blocks the loop, so the ping runs on a daemon
thread with blocking ``urllib`` calls and a fixed schedule (missed ticks are
skipped, not bunched). A sync handler spinning in pure Python still lets this
thread run: the interpreter hands the GIL over every ``sys.getswitchinterval()``
(5 ms by default), which is far below any ping period; only a C extension that
holds the GIL for the whole period could delay a ping.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence

from rpworker.protocol import ping_url
from rpworker.settings import Settings

log = logging.getLogger("rpworker")


class Heartbeat:
    def __init__(self, settings: Settings, job_ids: Callable[[], Sequence[str]]) -> None:
        self._settings = settings
        self._job_ids = job_ids
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rpworker-heartbeat", daemon=True)
        # Like the aiohttp session, ignore proxy variables: pings go straight to the platform.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        if self._settings.ping_url is None:
            log.warning("RUNPOD_WEBHOOK_PING is not set: no heartbeat is sent")
            return
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        period = self._settings.ping_interval_s
        next_at = time.monotonic()
        while not self._stopped.is_set():
            self.ping_once()
            now = time.monotonic()
            next_at += period
            if next_at < now:
                next_at = now + period - (now - next_at) % period
            self._stopped.wait(next_at - now)

    def ping_once(self) -> None:
        url = ping_url(self._settings, list(self._job_ids()))
        request = urllib.request.Request(url, headers={"Authorization": self._settings.api_key})
        timeout = max(1.0, min(self._settings.ping_interval_s, 10.0))
        try:
            with self._opener.open(request, timeout=timeout) as resp:
                resp.read()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Any answer is untrusted: a garbled one must not end the thread (no more pings).
            log.warning("heartbeat failed: %s", exc or type(exc).__name__)
