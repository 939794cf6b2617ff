"""RunPodLogger prints the SDK's lines, and logging through it cannot recurse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.sdk import ROOT, sdk_python
from tests.fixtures.worker_process import json_lines, run_rpworker, write_handler

LOGGING = """
from runpod.serverless.modules.rp_logger import RunPodLogger
log = RunPodLogger()
log.debug("d")
log.info("i", "job-1")
log.warn("w")
log.error("e", "job-2")
log.log("explicit", "ERROR")
log.trace("t")
log.secret("token", "abcdef")
log.info("x" * 5000)
log.set_level("WARN")
log.info("hidden")
log.warn("shown")
log.set_level(2)
log.debug("debug again")
"""


LEVEL_ENV = ("RUNPOD_DEBUG_LEVEL", "RUNPOD_LOG_LEVEL", "RUNPOD_ENDPOINT_ID")


def _stdout(python: str, env: dict[str, str], *, shim: bool) -> str:
    path = str(ROOT / "rpworker" / "_shim") if shim else ""
    inherited = {k: v for k, v in os.environ.items() if k not in LEVEL_ENV}
    done = subprocess.run(
        [python, "-c", LOGGING],
        env={**inherited, "PYTHONPATH": path, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.venv
@pytest.mark.parametrize(
    "env",
    [
        {},
        {"RUNPOD_DEBUG_LEVEL": "INFO"},
        {"RUNPOD_LOG_LEVEL": "ERROR"},
        {"RUNPOD_ENDPOINT_ID": "e"},
    ],
    ids=["default", "debug_level", "log_level", "platform_json"],
)
def test_lines_are_the_sdks(env: dict[str, str]) -> None:
    theirs = _stdout(str(sdk_python()), env, shim=False)
    ours = _stdout(sys.executable, env, shim=True)
    assert ours == theirs
    assert theirs.strip()


FORWARDING = """
import logging
import runpod
from runpod.serverless.modules.rp_logger import RunPodLogger

log = RunPodLogger()
seen = []


class Forward(logging.Handler):
    def emit(self, record):
        seen.append(record.name)
        log.info(f"{record.name}: {record.getMessage()}")


logging.getLogger().addHandler(Forward())
logging.getLogger().setLevel(logging.DEBUG)


def handler(job):
    logging.getLogger("mine").warning("from the handler")
    return {"rpworker_records": [name for name in seen if name.startswith("rpworker")]}
"""


def test_a_root_handler_forwarding_to_runpod_logger_does_not_recurse(tmp_path: Path) -> None:
    done = run_rpworker(
        str(write_handler(tmp_path, FORWARDING)),
        "--test_input",
        '{"input": {}}',
        "--rp_log_level",
        "DEBUG",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "INFO   | mine: from the handler" in lines
    # rpworker's own records never reached the user's root handler.
    assert json_lines(lines[-1]) == [{"output": {"rpworker_records": []}}]
