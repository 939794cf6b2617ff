"""Production settings, read once from the environment the platform sets.

Parsing lives here so a bad value fails at startup with the variable's name
and the expected form, instead of deep inside the job loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from rpworker.types import Config


class SettingsError(ValueError):
    """An environment variable or config key has a value the worker cannot use."""


@dataclass(frozen=True)
class Settings:
    take_url: str
    done_url: str
    stream_url: str
    ping_url: str | None
    api_key: str
    worker_id: str
    ping_interval_s: float
    endpoint_id: str | None
    log_level: str
    job_timeout_s: float | None
    shutdown_grace_s: float
    max_result_bytes: int
    retry_budget_s: float
    take_timeout_s: float

    @property
    def json_logs(self) -> bool:
        """On the platform (endpoint id set) logs are JSON lines, as the SDK writes them."""
        return self.endpoint_id is not None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; set it to e.g. {default:g}") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def _job_timeout(config: Config, env: Mapping[str, str]) -> float | None:
    """The config key ``timeout`` wins over RPWORKER_JOB_TIMEOUT; 0 or unset = no limit."""
    if config.get("timeout") is not None:
        value = config["timeout"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SettingsError(f'config "timeout" must be seconds >= 0, got {value!r}')
        seconds = float(value)
    else:
        seconds = _number(env, "RPWORKER_JOB_TIMEOUT", 0)
    return seconds or None


def _url(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: production mode needs this platform URL")
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={value!r} is not an http(s) URL")
    return value


def _optional_url(env: Mapping[str, str], name: str) -> str | None:
    return _url(env, name) if env.get(name, "").strip() else None


def load(config: Config, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    done_url = _url(env, "RUNPOD_WEBHOOK_POST_OUTPUT")
    return Settings(
        take_url=_url(env, "RUNPOD_WEBHOOK_GET_JOB"),
        done_url=done_url,
        stream_url=_optional_url(env, "RUNPOD_WEBHOOK_POST_STREAM") or done_url,
        ping_url=_optional_url(env, "RUNPOD_WEBHOOK_PING"),
        api_key=env.get("RUNPOD_AI_API_KEY", ""),
        worker_id=env.get("RUNPOD_POD_ID", "local"),
        ping_interval_s=_number(env, "RUNPOD_PING_INTERVAL", 10000, minimum=1) / 1000,
        endpoint_id=env.get("RUNPOD_ENDPOINT_ID") or None,
        log_level=env.get("RUNPOD_LOG_LEVEL") or "INFO",
        job_timeout_s=_job_timeout(config, env),
        shutdown_grace_s=_number(env, "RPWORKER_SHUTDOWN_GRACE", 30),
        max_result_bytes=int(_number(env, "RPWORKER_MAX_RESULT_BYTES", 20_000_000, minimum=1)),
        retry_budget_s=_number(env, "RPWORKER_RETRY_SECONDS", 120),
        take_timeout_s=_number(env, "RPWORKER_TAKE_TIMEOUT", 120, minimum=1),
    )
