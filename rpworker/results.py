"""Turn what a handler returned, yielded or raised into result bodies.

The shapes match the reference SDK so the platform and clients see the same
JSON; the one deliberate difference is that a yielded ``{"error": ...}`` is
streamed and fails the job with its other fields kept.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from typing import Any

from rpworker import codec
from rpworker.types import ResultBody
from rpworker.version import __version__


def from_return(value: Any) -> ResultBody:
    """Map a handler's return value to a result body, as the SDK does."""
    if not isinstance(value, dict):
        return {"output": value}
    rest = {k: v for k, v in value.items() if k not in ("error", "refresh_worker")}
    body: ResultBody = {}
    if rest:
        body["output"] = rest
    if value.get("error"):
        body["error"] = as_error_text(value["error"])
    if value.get("refresh_worker"):
        body["stopPod"] = True
    return body


def as_error_text(error: Any) -> str:
    """The platform marks a job FAILED only when ``error`` is a string."""
    return error if isinstance(error, str) else json.dumps(error, default=str)


def is_error_chunk(chunk: Any) -> bool:
    return isinstance(chunk, dict) and bool(chunk.get("error"))


def from_error_chunk(chunk: dict[str, Any], aggregate: list[Any] | None) -> ResultBody:
    """Fail the job with a yielded error, keeping the chunk's other fields."""
    body: ResultBody = {"error": as_error_text(chunk["error"])}
    if aggregate is not None:
        body["output"] = aggregate
    else:
        rest = {k: v for k, v in chunk.items() if k != "error"}
        if rest:
            body["output"] = rest
    return body


def worker_id() -> str:
    return os.environ.get("RUNPOD_POD_ID", "local")


def _message(exc: BaseException) -> str:
    """``str(exc)``, or traceback's placeholder when that raises: the job must still end."""
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def from_exception(exc: BaseException) -> ResultBody:
    """The SDK's structured error payload: a JSON string under ``error``."""
    details = {
        "error_type": str(type(exc)),
        "error_message": _message(exc),
        "error_traceback": "".join(traceback.format_exception(exc)),
        "hostname": os.environ.get("RUNPOD_POD_HOSTNAME", socket.gethostname()),
        "worker_id": worker_id(),
        "runpod_version": __version__,
    }
    return {"error": json.dumps(details)}


def failed(message: str) -> ResultBody:
    """A failure the runtime itself decides (timeout, shutdown, size limit)."""
    return {"error": message}


def is_failure(body: ResultBody) -> bool:
    return isinstance(body.get("error"), str) and bool(body["error"])


def too_large(size: int, limit: int) -> str:
    return (
        f"result is {size} bytes, over the platform's limit of {limit} bytes "
        "(RPWORKER_MAX_RESULT_BYTES): return less, or upload large outputs "
        "to storage and return a URL"
    )


def encode(body: ResultBody, max_bytes: int | None = None) -> tuple[ResultBody, bytes]:
    """The body as sent and its JSON bytes: every mode reaches the same verdict.

    A body that is not JSON (a set, NaN, too deep, ...) or is over ``max_bytes``
    becomes a failure saying so (keeping ``stopPod``), so the job still ends.
    """
    try:
        data = codec.dumps(body)
    except codec.NotJSON as exc:
        problem = f"the handler's output is not JSON-serializable: {exc}"
    else:
        if max_bytes is None or len(data) <= max_bytes:
            return body, data
        problem = too_large(len(data), max_bytes)
    failure = failed(problem)
    if body.get("stopPod"):
        failure["stopPod"] = True
    return failure, codec.dumps(failure)
