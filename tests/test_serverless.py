"""``start(config)``: config checks, flag parsing and the choice of mode."""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest

from rpworker.flags import Flags, parse_flags
from rpworker.serverless import ConfigError, start


def handler(job: dict[str, Any]) -> str:
    return "ok"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([handler], "start() takes a dict"),
        ({}, "start() needs config['handler']"),
        ({"handler": "handler"}, "config['handler'] must be callable"),
        ({"handler": handler, "concurrency_modifier": 4}, "must be a function int -> int"),
    ],
)
def test_bad_config(config: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        start(config)


def test_flags_parsed_and_unknown_ones_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys,
        "argv",
        ["h.py", "--rp_serve_api", "--rp_api_port", "9001", "--mine", "--rp_log_level", "warn"],
    )
    monkeypatch.delenv("RUNPOD_LOG_LEVEL", raising=False)
    assert parse_flags() == Flags(
        log_level="WARN", log_level_flag="WARN", serve_api=True, api_port=9001
    )
    assert sys.argv == ["h.py", "--mine"]


TAKE_URL = "http://127.0.0.1:9/job-take/$ID?gpu=x"


def _stub(monkeypatch: pytest.MonkeyPatch, module: str, function: str, code: int) -> list[Any]:
    """Replace ``module.function`` with one that records its arguments and returns ``code``."""
    calls: list[Any] = []

    def record(*args: Any, **kwargs: Any) -> int:
        calls.append(args)
        return code

    fake = types.ModuleType(module)
    setattr(fake, function, record)
    monkeypatch.setitem(sys.modules, module, fake)
    return calls


def _exit_code(monkeypatch: pytest.MonkeyPatch, config: Any, *argv: str) -> Any:
    monkeypatch.setattr(sys, "argv", ["h.py", *argv])
    with pytest.raises(SystemExit) as exited:
        start(config)
    return exited.value.code


def test_production_mode_runs_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the platform's env set, start hands the config to run_worker and exits with its code."""
    calls = _stub(monkeypatch, "rpworker.worker", "run_worker", 3)
    monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", TAKE_URL)
    config = {"handler": handler}
    assert _exit_code(monkeypatch, config, "--unknown_flag_of_the_handler") == 3
    assert calls == [(config,)]


@pytest.mark.parametrize("take_url", [None, TAKE_URL], ids=["local", "on_the_platform"])
def test_test_input_runs_the_test_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], take_url: str | None
) -> None:
    """As the SDK's worker._is_local: --test_input wins over RUNPOD_WEBHOOK_GET_JOB."""
    if take_url is None:
        monkeypatch.delenv("RUNPOD_WEBHOOK_GET_JOB", raising=False)
    else:
        monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", take_url)
    assert _exit_code(monkeypatch, {"handler": handler}, "--test_input", '{"input": 1}') == 0
    assert capsys.readouterr().out == '{"output": "ok"}\n'


def test_serve_api_serves_even_on_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the SDK's start: --rp_serve_api is checked before the platform's env."""
    calls = _stub(monkeypatch, "rpworker.local_api", "run", 5)
    monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", TAKE_URL)
    monkeypatch.setenv("RPWORKER_GPU_CHECK", "off")
    assert _exit_code(monkeypatch, {"handler": handler}, "--rp_serve_api") == 5
    assert [flags.serve_api for _, flags in calls] == [True]
