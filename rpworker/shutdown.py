"""The production worker's shutdown: signals, the grace period and its deadlines.

First SIGTERM/SIGINT (or a ``refresh_worker`` result): stop taking jobs;
running jobs get ``RPWORKER_SHUTDOWN_GRACE`` seconds. When the grace ends (or
at a second signal) handlers still running are aborted and reported failed,
and every post gets ``FINAL_FLUSH_S`` more; then whatever is still unposted is
given up and logged by job id. A third signal gives up at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

log = logging.getLogger("rpworker")

FINAL_FLUSH_S = 2.0
"""Time posts get after the grace period (failure reports of aborted jobs included)."""

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    def __init__(self, grace_s: float, wake: Callable[[], None]) -> None:
        self.grace_s = grace_s
        self._wake = wake
        self._loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        """Set at the first signal or refresh: take no more jobs."""
        self.abort: asyncio.Future[None] = self._loop.create_future()
        """Done when the grace is over: running handlers are aborted."""
        self.give_up: asyncio.Future[None] = self._loop.create_future()
        """Done when posts must stop too."""
        self.grace_ends: float | None = None
        self._signals = 0

    def install(self) -> None:
        for signum in SIGNALS:
            self._loop.add_signal_handler(signum, self._on_signal, signum)

    def remove(self) -> None:
        for signum in SIGNALS:
            self._loop.remove_signal_handler(signum)

    @property
    def posts_end(self) -> float | None:
        """Loop time at which every post is given up, once shutting down."""
        return None if self.grace_ends is None else self.grace_ends + FINAL_FLUSH_S

    def begin(self, reason: str) -> None:
        """Stop taking jobs; running ones get the grace period."""
        if self.grace_ends is None:
            log.info("%s: finishing running jobs (grace %gs)", reason, self.grace_s)
            self.grace_ends = self._loop.time() + self.grace_s
            self.stopping.set()
            self._wake()

    def end_grace(self) -> None:
        if not self.abort.done():
            self.grace_ends = min(self.grace_ends or self._loop.time(), self._loop.time())
            self.abort.set_result(None)
            self._wake()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            self.begin(signal.Signals(signum).name)
        elif self._signals == 2:
            log.warning("second signal: ending the grace period now (a third one exits at once)")
            self.end_grace()
        elif not self.give_up.done():
            log.warning("third signal: giving up unposted results now")
            self.give_up.set_result(None)
            self._wake()
