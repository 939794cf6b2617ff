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


def test_production_mode_runs_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the platform's env set, start hands the config to run_worker and exits with its code."""
    seen: list[Any] = []

    def run_worker(config: Any) -> int:
        seen.append(config)
        return 3

    worker = types.ModuleType("rpworker.worker")
    worker.run_worker = run_worker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rpworker.worker", worker)
    monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:9/job-take/$ID?gpu=x")
    monkeypatch.setattr(sys, "argv", ["h.py", "--unknown_flag_of_the_handler"])
    config = {"handler": handler}
    with pytest.raises(SystemExit) as exited:
        start(config)
    assert exited.value.code == 3
    assert seen == [config]


def test_test_input_runs_the_test_job_even_on_the_platform(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the SDK's worker._is_local: --test_input wins over RUNPOD_WEBHOOK_GET_JOB."""
    monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:9/job-take/$ID?gpu=x")
    monkeypatch.setattr(sys, "argv", ["h.py", "--test_input", '{"input": 1}'])
    with pytest.raises(SystemExit) as exited:
        start({"handler": handler})
    assert exited.value.code == 0
    assert capsys.readouterr().out == '{"output": "ok"}\n'


def test_serve_api_serves_even_on_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the SDK's start: --rp_serve_api is checked before the platform's env."""
    served: list[Flags] = []

    def serve(config: Any, flags: Flags, **facts: Any) -> int:
        served.append(flags)
        return 5

    local_api = types.ModuleType("rpworker.local_api")
    local_api.run = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rpworker.local_api", local_api)
    monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:9/job-take/$ID?gpu=x")
    monkeypatch.setenv("RPWORKER_GPU_CHECK", "off")
    monkeypatch.setattr(sys, "argv", ["h.py", "--rp_serve_api"])
    with pytest.raises(SystemExit) as exited:
        start({"handler": handler})
    assert exited.value.code == 5
    assert [f.serve_api for f in served] == [True]


def test_test_mode_is_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RUNPOD_WEBHOOK_GET_JOB", raising=False)
    monkeypatch.setattr(sys, "argv", ["h.py", "--test_input", '{"input": 1}'])
    with pytest.raises(SystemExit) as exited:
        start({"handler": handler})
    assert exited.value.code == 0
    assert capsys.readouterr().out == '{"output": "ok"}\n'
