"""The local API as a process: readiness, stopping, and startup errors."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.worker_process import ApiProcess, run_rpworker, write_handler

BLOCKING = """
import time
def handler(job):
    time.sleep(60)
    return "late"
"""


def _post(url: str, body: object) -> object:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_sigterm_stops_even_with_a_blocked_sync_handler(
    tmp_path: Path, api_process: Callable[..., ApiProcess]
) -> None:
    api = api_process(write_handler(tmp_path, BLOCKING))
    job = _post(f"{api.url}/run", {"input": {}})
    assert isinstance(job, dict)
    api.process.send_signal(signal.SIGTERM)
    assert api.process.wait(timeout=30) == 0
    assert "without waiting for 1 running sync handler" in api.log()


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        handler = write_handler(tmp_path, BLOCKING)
        done = run_rpworker(str(handler), "--rp_serve_api", "--rp_api_port", port, cwd=tmp_path)
    assert done.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr


def test_bad_tuning_variable(tmp_path: Path) -> None:
    handler = write_handler(tmp_path, BLOCKING)
    done = run_rpworker(
        str(handler), "--rp_serve_api", cwd=tmp_path, env={"RPWORKER_STREAM_BUFFER": "lots"}
    )
    assert done.returncode == 2
    assert "RPWORKER_STREAM_BUFFER='lots' must be a whole number" in done.stderr


def test_ready_line_names_the_bound_port(
    tmp_path: Path, api_process: Callable[..., ApiProcess]
) -> None:
    api = api_process(write_handler(tmp_path, "def handler(job):\n    return 'hi'\n"))
    assert api.url.startswith("http://127.0.0.1:")
    answer = _post(f"{api.url}/runsync", {"input": {}})
    assert isinstance(answer, dict)
    assert (answer["status"], answer["output"]) == ("COMPLETED", "hi")
