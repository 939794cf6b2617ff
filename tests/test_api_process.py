"""The local API as a process: readiness, stopping, and startup errors."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.worker_process import (
    EXITING_HANDLER,
    ApiProcess,
    run_rpworker,
    write_handler,
)

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
    assert "RPWORKER_STREAM_BUFFER='lots' is invalid: use a whole number" in done.stderr


def test_ready_line_names_the_bound_port(
    tmp_path: Path, api_process: Callable[..., ApiProcess]
) -> None:
    api = api_process(write_handler(tmp_path, "def handler(job):\n    return 'hi'\n"))
    assert api.url.startswith("http://127.0.0.1:")
    answer = _post(f"{api.url}/runsync", {"input": {}})
    assert isinstance(answer, dict)
    assert (answer["status"], answer["output"]) == ("COMPLETED", "hi")


def test_a_handler_that_exits_fails_only_its_job(
    tmp_path: Path, api_process: Callable[..., ApiProcess]
) -> None:
    """Row 1: KeyboardInterrupt, sys.exit (sync and async) fail that job; the server goes on."""
    api = api_process(write_handler(tmp_path, EXITING_HANDLER), "--rp_api_concurrency", "4")
    slow = _post(f"{api.url}/run", {"input": {"how": "slow"}})
    assert isinstance(slow, dict)
    for how, kind in (("interrupt", "KeyboardInterrupt"), ("exit", "SystemExit")):
        answer = _post(f"{api.url}/runsync", {"input": {"how": how}})
        assert isinstance(answer, dict)
        assert answer["status"] == "FAILED", answer
        assert kind in json.loads(answer["error"])["error_type"]
    answer = _post(f"{api.url}/runsync", {"input": {"how": "async_exit"}})
    assert isinstance(answer, dict)
    assert answer["status"] == "FAILED", answer
    assert json.loads(answer["error"])["error_message"] == "4"
    done = _post(f"{api.url}/runsync?wait=30000", {"input": {"how": "slow"}})
    assert isinstance(done, dict)
    assert done["output"] == "survived"
    with urllib.request.urlopen(f"{api.url}/status/{slow['id']}", timeout=30) as response:
        assert json.load(response)["output"] == "survived"
    assert api.process.poll() is None


def test_sigterm_answers_waiting_runsync_clients(
    tmp_path: Path, api_process: Callable[..., ApiProcess]
) -> None:
    """Row 11: a client waiting on /runsync gets a final answer, and the server stops."""
    source = "import asyncio\nasync def handler(job):\n    await asyncio.sleep(60)\n"
    api = api_process(write_handler(tmp_path, source))
    answers: list[object] = []
    waiter = threading.Thread(
        target=lambda: answers.append(_post(f"{api.url}/runsync", {"input": {}}))
    )
    waiter.start()
    for _ in range(600):
        with urllib.request.urlopen(f"{api.url}/health", timeout=30) as response:
            if json.load(response)["jobs"]["inProgress"]:
                break
        time.sleep(0.05)
    api.process.send_signal(signal.SIGTERM)
    assert api.process.wait(timeout=30) == 0
    waiter.join(30)
    assert len(answers) == 1
    assert isinstance(answers[0], dict)
    assert answers[0]["status"] == "CANCELLED"
