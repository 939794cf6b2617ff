"""Logging for the local modes, and the SDK's logger class that handlers use.

Logs go to stderr so that stdout stays machine-readable in test mode.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

_LEVELS = {"WARN": logging.WARNING, "WARNING": logging.WARNING}


def level_number(name: str | None, default: int = logging.INFO) -> int:
    if not name:
        return default
    upper = name.upper()
    number = _LEVELS.get(upper, logging.getLevelName(upper))
    return number if isinstance(number, int) else default


def setup(level: str | None) -> None:
    """Send rpworker's and handlers' log lines to stderr at ``level`` (default INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_number(level))
    if level and level_number(level, default=-1) == -1:
        logging.getLogger("rpworker").warning(
            "log level %r unknown (use DEBUG, INFO, WARN or ERROR); using INFO", level
        )


class RunPodLogger:
    """The SDK's ``RunPodLogger`` surface, writing through :mod:`logging`."""

    def __init__(self) -> None:
        self._log = logging.getLogger("runpod")

    def set_level(self, new_level: str) -> None:
        self._log.setLevel(level_number(new_level))

    def log(self, message: Any, message_level: str = "INFO", job_id: str | None = None) -> None:
        prefix = f"{job_id} | " if job_id else ""
        self._log.log(level_number(message_level), "%s%s", prefix, message)

    def debug(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "DEBUG", request_id)

    def info(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "INFO", request_id)

    def warn(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "WARNING", request_id)

    warning = warn

    def error(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "ERROR", request_id)

    def trace(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "DEBUG", request_id)

    def tip(self, message: Any) -> None:
        self.log(message, "INFO")
