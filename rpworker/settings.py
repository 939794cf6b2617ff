"""Production settings, read once from the environment the platform sets.

Parsing lives here so a bad value fails at startup with the variable's name
and the expected form, instead of deep inside the job loop.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from rpworker.env import SettingError, number
from rpworker.types import Config


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


def job_timeout(config: Config, env: Mapping[str, str]) -> float | None:
    """The config key ``timeout`` wins over RPWORKER_JOB_TIMEOUT; 0 or unset = no limit.

    The local modes check it too, so a bad value is refused before deployment.
    """
    if config.get("timeout") is not None:
        value = config["timeout"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SettingError('config "timeout"', value, "use seconds >= 0")
        seconds = float(value)
    else:
        seconds = number(env, "RPWORKER_JOB_TIMEOUT", float, 0.0)
    return seconds or None


def _url(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingError(name, None, "production mode needs this platform URL")
    if not value.startswith(("http://", "https://")):
        raise SettingError(name, value, "use an http(s) URL")
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
        ping_interval_s=number(env, "RUNPOD_PING_INTERVAL", float, 10000.0, minimum=1) / 1000,
        endpoint_id=env.get("RUNPOD_ENDPOINT_ID") or None,
        log_level=env.get("RUNPOD_LOG_LEVEL") or "INFO",
        job_timeout_s=job_timeout(config, env),
        shutdown_grace_s=number(env, "RPWORKER_SHUTDOWN_GRACE", float, 30.0),
        max_result_bytes=number(env, "RPWORKER_MAX_RESULT_BYTES", int, 20_000_000, minimum=1),
        retry_budget_s=number(env, "RPWORKER_RETRY_SECONDS", float, 120.0),
        take_timeout_s=number(env, "RPWORKER_TAKE_TIMEOUT", float, 120.0, minimum=1),
    )


def refused(error: SettingError) -> int:
    """Report a bad setting the same way in every mode; the exit status."""
    print(f"rpworker: {error}", file=sys.stderr)
    return 2
