"""rpworker's own log lines, and the SDK's ``RunPodLogger`` that handlers use.

The two never meet the root logger's handlers: once rpworker runs a worker it
logs through the ``rpworker`` logger with a handler of its own and no
propagation, and ``RunPodLogger`` prints like the SDK's. So a handler that
installs a root ``logging.Handler`` forwarding every record to
``RunPodLogger`` cannot recurse, and a handler's own logging configuration is
never replaced.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, ClassVar

_LEVELS = {"WARN": logging.WARNING, "WARNING": logging.WARNING}

RPWORKER = logging.getLogger("rpworker")

_unknown_reported: set[str] = set()
"""Unknown RUNPOD_LOG_LEVEL values already warned about: one warning a process."""

_installed: list[logging.Handler] = []
"""The handler :func:`install` put on the root logger and ``rpworker``, to replace it alone."""


def level_number(name: str | None, default: int = logging.INFO) -> int:
    if not name:
        return default
    upper = name.upper()
    number = _LEVELS.get(upper, logging.getLevelName(upper))
    return number if isinstance(number, int) else default


def install(handler: logging.Handler, level: str | None) -> None:
    """Route rpworker's lines and unconfigured handler logs to ``handler`` at ``level``.

    Only the handler installed here before is replaced on the root logger;
    handlers a user's code added stay. From then on rpworker's own records no
    longer propagate to the root logger (used as a library, they still do).
    """
    root = logging.getLogger()
    for old in _installed:
        if old in root.handlers:
            root.removeHandler(old)
        RPWORKER.removeHandler(old)
    _installed[:] = [handler]
    root.addHandler(handler)
    RPWORKER.addHandler(handler)
    RPWORKER.propagate = False
    number = level_number(level)
    root.setLevel(number)
    RPWORKER.setLevel(number)


def setup(level: str | None) -> None:
    """The local modes: log lines to stderr at ``level`` (default INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    install(handler, level)
    if level and level_number(level, default=-1) == -1 and level not in _unknown_reported:
        _unknown_reported.add(level)
        RPWORKER.warning("log level %r unknown (use DEBUG, INFO, WARN or ERROR); using INFO", level)


SDK_LEVELS = ("NOTSET", "TRACE", "DEBUG", "INFO", "WARN", "ERROR")
"""The SDK's levels, lowest first; an int level is an index into this list."""

MAX_MESSAGE_LENGTH = 4096


def sdk_level(level: object) -> str:
    """A level name or index as the SDK accepts it; ValueError like the SDK's otherwise."""
    if isinstance(level, str) and level.upper() in SDK_LEVELS:
        return level.upper()
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level < len(SDK_LEVELS):
        return SDK_LEVELS[level]
    raise ValueError(f"Invalid debug level: {level}")


def _level_from_env() -> str:
    name = os.environ.get("RUNPOD_LOG_LEVEL", os.environ.get("RUNPOD_DEBUG_LEVEL", "DEBUG"))
    try:
        return sdk_level(name)
    except ValueError:
        _unknown_reported.add(name)
        print(
            f"WARN   | log level {name!r} (RUNPOD_LOG_LEVEL / RUNPOD_DEBUG_LEVEL) unknown; "
            f"use one of {', '.join(SDK_LEVELS)}. Using DEBUG (rpworker's own lines: INFO).",
            flush=True,
        )
        return "DEBUG"


def _shortened(message: str) -> str:
    """The SDK keeps the head and tail of an over-long message."""
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    half = MAX_MESSAGE_LENGTH // 2
    note = f"\n...TRUNCATED {len(message) - MAX_MESSAGE_LENGTH} CHARACTERS...\n"
    return message[:half] + note + message[-half:]


class RunPodLogger:
    """The SDK's logger: one shared instance printing ``LEVEL  | job_id | message`` to stdout.

    DEBUG by default, ``RUNPOD_LOG_LEVEL`` / ``RUNPOD_DEBUG_LEVEL`` or
    :meth:`set_level` otherwise; JSON lines when ``RUNPOD_ENDPOINT_ID`` is set
    (on the platform). It prints, never calls :mod:`logging`.
    """

    _instance: ClassVar[RunPodLogger | None] = None
    level: str = _level_from_env()

    def __new__(cls) -> RunPodLogger:
        if RunPodLogger._instance is None:
            RunPodLogger._instance = object.__new__(cls)
        return RunPodLogger._instance

    def set_level(self, new_level: str | int) -> None:
        self.level = sdk_level(new_level)
        self.info(f"Log level set to {self.level}")

    def log(self, message: Any, message_level: str = "INFO", job_id: str | None = None) -> None:
        if self.level == "NOTSET":
            return
        if message_level != "TIP" and SDK_LEVELS.index(self.level) > SDK_LEVELS.index(
            sdk_level(message_level)
        ):
            return
        text = _shortened(str(message))
        if os.environ.get("RUNPOD_ENDPOINT_ID"):
            line = json.dumps({"requestId": job_id, "message": text, "level": message_level})
        else:
            prefix = f"{job_id} | " if job_id else ""
            line = f"{message_level.ljust(7)}| {prefix}{text}"
        print(line, flush=True)

    def secret(self, secret_name: str, secret: Any) -> None:
        text = str(secret)
        self.info(f"{secret_name}: {text[0]}{'*' * (len(text) - 2)}{text[-1]}")

    def debug(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "DEBUG", request_id)

    def info(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "INFO", request_id)

    def warn(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "WARN", request_id)

    def error(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "ERROR", request_id)

    def tip(self, message: Any) -> None:
        self.log(message, "TIP")

    def trace(self, message: Any, request_id: str | None = None) -> None:
        self.log(message, "TRACE", request_id)
