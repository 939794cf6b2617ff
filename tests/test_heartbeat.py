"""The heartbeat thread against platforms that answer badly: it must keep pinging."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from rpworker.heartbeat import Heartbeat
from rpworker.settings import load


@pytest.fixture
def garbling_server() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server answering every request with bytes that are not HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                received.append(connection.recv(4096))
                connection.sendall(b"garbage that is not HTTP\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    listener.close()


def test_a_garbled_ping_answer_is_logged_and_pinging_goes_on(
    garbling_server: tuple[str, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    url, received = garbling_server
    settings = load(
        {},
        {
            "RUNPOD_WEBHOOK_GET_JOB": f"{url}/job-take/$ID",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{url}/job-done/$ID",
            "RUNPOD_WEBHOOK_PING": f"{url}/ping/$RUNPOD_POD_ID",
        },
    )
    heartbeat = Heartbeat(settings, lambda: ["j1"])
    heartbeat.ping_once()
    heartbeat.ping_once()
    assert len(received) == 2
    assert b"job_id=j1" in received[1]
    assert [r.getMessage().startswith("heartbeat failed") for r in caplog.records] == [True, True]
