"""Retry with exponential backoff for errors a registry calls transient (5xx, timeouts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TransientError(Exception):
    """Raised by an attempt that may succeed when repeated; carries the final error to raise."""

    def __init__(self, final: Exception) -> None:
        super().__init__(str(final))
        self.final = final


def with_retries(
    attempt: Callable[[], T],
    *,
    attempts: int = 4,
    delay: float = 1.0,
    on_retry: Callable[[int, Exception], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `attempt` until it returns; only TransientError is retried (delay doubles)."""
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except TransientError as exc:
            if number == attempts:
                raise exc.final from exc
            if on_retry is not None:
                on_retry(number, exc.final)
            sleep(delay * 2 ** (number - 1))
    raise AssertionError("unreachable: attempts must be >= 1")
