"""Close HTTP connections that hold a descriptor without a request being handled.

aiohttp has no timeout for reading a request's head, so a client that opens
connections and sends headers slowly (or nothing at all) holds descriptors for
as long as it likes. Here a connection may go ``timeout_s`` without a request
in a handler (the time to send a request head, or to idle between keep-alive
requests); a sweep closes it after that. Bookkeeping per request is two dict
updates; the sweep runs at most once a second over the open connections.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger("rpworker")


class IdleConnections:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._busy: dict[object, int] = {}
        self._quiet_since: dict[object, float] = {}

    def started(self, connection: object) -> None:
        self._busy[connection] = self._busy.get(connection, 0) + 1

    def ended(self, connection: object) -> None:
        left = self._busy.pop(connection, 1) - 1
        if left:
            self._busy[connection] = left
        self._quiet_since[connection] = asyncio.get_running_loop().time()

    async def sweep(self, server: web.Server) -> None:
        """Forever: close the connections of ``server`` quiet for longer than the timeout."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.timeout_s / 2))
            now = loop.time()
            quiet: dict[object, float] = {}
            for connection in server.connections:
                if connection in self._busy:
                    continue
                since = self._quiet_since.get(connection, now)
                if now - since > self.timeout_s:
                    log.debug("closing a connection with no request for %.1fs", now - since)
                    connection.force_close()
                else:
                    quiet[connection] = since
            self._quiet_since = quiet
