"""Push image tags through the engine, turning errors inside the push stream into types.

The engine reports most push failures as `{"error": ...}` lines in a stream that still
ends normally, so every line is checked; the digest comes from the final `aux` line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from builder import engine
from builder.errors import InputError, RpbuildError, Source
from builder.registry.client import (
    ManifestUnknownError,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachableError,
    TransientRegistryError,
    login_hint,
)
from builder.registry.credentials import Credentials
from builder.registry.reference import ImageRef
from builder.registry.retry import TransientError, with_retries

StreamLine = Mapping[str, Any]
_AUTH = ("unauthorized", "authentication required", "no basic auth credentials", "denied")
_TRANSIENT = (
    "timeout",
    "connection reset",
    "eof",
    "toomanyrequests",
    "too many requests",
    "500 internal server error",
    "502 bad gateway",
    "503 service unavailable",
    "504 gateway",
    "blob upload unknown",
)


class LocalImageMissingError(RpbuildError):
    """The tag to push does not exist in the local engine."""


class PushError(RegistryError):
    """The engine reported a push failure rpbuild has no specific type for."""


@dataclass(frozen=True)
class PushedTag:
    ref: ImageRef
    digest: str
    manifest_size: int


def classify_push_error(message: str, ref: ImageRef) -> Exception:
    """Map an engine push message to a typed error (TransientError wraps retryable ones)."""
    text = message.lower()
    if "does not exist locally" in text or "tag does not exist" in text or "no such image" in text:
        return LocalImageMissingError(
            f"no local image {ref}: build it first or fix the tag (see `docker images`)"
        )
    if any(marker in text for marker in _AUTH):
        return RegistryAuthError(
            f"{ref.registry} refused the push of {ref}: {message}. {login_hint(ref.registry)}"
        )
    if "connection refused" in text:
        return RegistryUnreachableError(
            f"cannot reach the registry {ref.registry}: connection refused. Is it running, and "
            f"are the host and port in {ref} right?"
        )
    if "no such host" in text or "server misbehaving" in text:
        return RegistryUnreachableError(
            f"unknown registry host {ref.registry!r} in {ref}: check the reference's registry part"
        )
    if "name unknown" in text or "repository does not exist" in text:
        return ManifestUnknownError(
            f"{ref.registry} has no repository {ref.repository!r} and will not create it: "
            "create it in the registry first or fix the name"
        )
    if any(marker in text for marker in _TRANSIENT):
        return TransientError(TransientRegistryError(f"pushing {ref} failed: {message}"))
    return PushError(f"pushing {ref} failed: {message}")


def _auth_config(credentials: Credentials | None) -> dict[str, str] | None:
    if credentials is None:
        return None
    return {"username": credentials.username, "password": credentials.password}


def _push_once(
    sdk: engine.Sdk,
    ref: ImageRef,
    credentials: Credentials | None,
    on_line: Callable[[StreamLine], None] | None,
) -> PushedTag:
    pushed: PushedTag | None = None
    assert ref.tag is not None
    try:
        for line in sdk.push(ref.name, ref.tag, _auth_config(credentials)):
            if on_line is not None:
                on_line(line)
            if "error" in line or "errorDetail" in line:
                detail = line.get("errorDetail") or {}
                raise classify_push_error(str(detail.get("message") or line.get("error")), ref)
            aux = line.get("aux") or {}
            if "Digest" in aux:
                pushed = PushedTag(ref, str(aux["Digest"]), int(aux.get("Size", 0)))
    except engine.EngineError as exc:
        raise classify_push_error(exc.message, ref) from exc
    if pushed is None:
        raise TransientError(PushError(f"the engine reported no digest for {ref}"))
    return pushed


def push_tag(
    sdk: engine.Sdk,
    ref: ImageRef,
    credentials: Credentials | None,
    *,
    attempts: int = 4,
    retry_delay: float = 2.0,
    on_line: Callable[[StreamLine], None] | None = None,
    on_retry: Callable[[int, Exception], None] | None = None,
) -> PushedTag:
    """Push one tag; transient failures are retried with backoff, others raise at once."""
    if ref.tag is None or ref.digest is not None:
        raise InputError(f"{ref}: push needs a tag (name:tag), not a digest", Source("REF"))
    return with_retries(
        lambda: _push_once(sdk, ref, credentials, on_line),
        attempts=attempts,
        delay=retry_delay,
        on_retry=on_retry,
    )
