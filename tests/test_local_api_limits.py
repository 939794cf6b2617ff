"""The local API under hostile load: issue 11's rows, each one a test (in-process, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rpworker import local_api as local_api_module
from tests.fixtures.local_api import StartApi

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def deep_output(job: dict[str, Any]) -> Any:
    return nested(5000)


async def test_a_result_nested_too_deep_fails_the_job(local_api: StartApi) -> None:
    """Row 4: the job ends FAILED, naming the problem; the slot is free again."""
    api = await local_api(deep_output)
    answer = await api.post("/runsync", {"input": {}})
    assert answer["status"] == "FAILED"
    assert "nested too deeply" in answer["error"]
    health = await api.get("/health")
    assert health["workers"] == {"idle": 1, "running": 0}
    assert health["jobs"]["failed"] == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [({1, 2, 3}, "set is not JSON"), (float("nan"), "NaN"), (float("-inf"), "Infinity")],
)
async def test_a_result_that_is_not_json_fails_the_job(
    local_api: StartApi, value: Any, problem: str
) -> None:
    """Row 10: the same verdict as production and test mode."""
    api = await local_api(lambda job: value)
    answer = await api.post("/runsync", {"input": {}})
    assert answer["status"] == "FAILED"
    assert problem in answer["error"]


async def test_input_nested_too_deep_is_a_400(local_api: StartApi) -> None:
    """Row 8: a 400 that names the problem, never a 500."""
    api = await local_api(lambda job: "never")
    body = '{"input": {"x": ' + "[" * 2000 + "]" * 2000 + "}}"
    status, answer = await api.call("POST", "/run", data=body.encode())
    assert status == 400
    assert "nested too deeply" in answer["error"]


async def test_a_stalled_stream_reader_never_blocks_the_job(local_api: StartApi) -> None:
    """Row 6: read /stream once, stop: the job still completes, the next job still runs."""

    async def many(job: dict[str, Any]) -> AsyncIterator[int]:
        for i in range(50):
            yield i
            await asyncio.sleep(0)

    api = await local_api(many, aggregate=True, stream_buffer=3)
    job = await api.post("/run", {"input": {}})
    await api.get(f"/stream/{job['id']}")
    done = await api.wait_status(job["id"], *FINAL)
    assert (done["status"], done["output"]) == ("COMPLETED", list(range(50)))
    later = await api.get(f"/stream/{job['id']}")
    assert [chunk["output"] for chunk in later["stream"]] == [47, 48, 49]
    assert (await api.post("/runsync", {"input": {}}))["status"] == "COMPLETED"


async def test_finished_jobs_are_capped_by_count(local_api: StartApi) -> None:
    """Row 7: beyond the cap the oldest finished job goes, and a late /status says why."""
    api = await local_api(lambda job: job["input"]["n"], max_finished_jobs=2)
    ids = [(await api.post("/runsync", {"input": {"n": n}}))["id"] for n in range(4)]
    status, answer = await api.call("GET", f"/status/{ids[0]}")
    assert status == 404
    assert "evicted" in answer["error"]
    assert "RPWORKER_MAX_FINISHED_JOBS" in answer["error"]
    assert (await api.get(f"/status/{ids[3]}"))["output"] == 3
    assert (await api.get("/health"))["jobs"]["completed"] == 4


async def test_finished_jobs_are_capped_by_bytes(local_api: StartApi) -> None:
    """Row 7: large results push out older ones once their total passes the cap."""
    api = await local_api(lambda job: "x" * 600, max_finished_bytes=1000)
    first = await api.post("/runsync", {"input": {}})
    second = await api.post("/runsync", {"input": {}})
    status, answer = await api.call("GET", f"/status/{first['id']}")
    assert status == 404
    assert "RPWORKER_MAX_FINISHED_BYTES" in answer["error"]
    assert (await api.get(f"/status/{second['id']}"))["output"] == "x" * 600


async def test_an_async_handler_blocking_the_loop_is_named_and_timed_out(
    local_api: StartApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 14: one warning with the handler's name and the fix; the timeout still applies."""

    async def hog(job: dict[str, Any]) -> str:
        time.sleep(1.2)  # blocks the loop: the point of the test
        return "finished late"

    api = await local_api(hog)
    with caplog.at_level(logging.WARNING, logger="rpworker"):
        answer = await api.post("/runsync", {"input": {}, "policy": {"executionTimeout": 500}})
    assert answer["status"] == "TIMED_OUT"
    warnings = [
        r.getMessage() for r in caplog.records if "blocked the event loop" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "hog" in warnings[0]
    assert "def" in warnings[0]


async def _raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def test_slow_request_headers_are_cut_off(local_api: StartApi) -> None:
    """Row 13: a connection that never finishes its headers is closed; others are served."""
    api = await local_api(lambda job: "ok", header_timeout_s=0.3)
    slow = [await _raw(api.url) for _ in range(5)]
    for _, writer in slow:
        writer.write(b"POST /run HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
    for reader, _ in slow:
        assert await asyncio.wait_for(reader.read(), 30) == b""
    assert (await api.get("/health"))["workers"]["idle"] == 1


async def test_slow_request_body_is_a_408(local_api: StartApi) -> None:
    """Row 13: the body must arrive within its timeout too."""
    api = await local_api(lambda job: "ok", body_timeout_s=0.3)
    reader, writer = await _raw(api.url)
    writer.write(b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    head = await asyncio.wait_for(reader.readline(), 30)
    assert b" 408 " in head
    writer.close()


async def test_a_client_leaving_mid_body_is_not_a_bug(
    local_api: StartApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 15: a debug line, no 'bug answering' error with a traceback."""
    api = await local_api(lambda job: "ok")
    with caplog.at_level(logging.DEBUG, logger="rpworker"):
        _, writer = await _raw(api.url)
        writer.write(b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await api.get("/health")
        for _ in range(50):
            if any("left" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(r.levelno == logging.DEBUG and "left" in r.getMessage() for r in caplog.records)


async def test_bad_progress_values_never_break_status(local_api: StartApi) -> None:
    """Row 10's cousin: a progress value that is not JSON is dropped, /status keeps working."""
    from rpworker import progress_update

    release = asyncio.Event()

    async def reports(job: dict[str, Any]) -> str:
        progress_update(job, {1, 2})
        await release.wait()
        return "done"

    api = await local_api(reports)
    job = await api.post("/run", {"input": {}})
    status = await api.wait_status(job["id"], "IN_PROGRESS")
    assert "output" not in status
    release.set()
    assert (await api.wait_status(job["id"], *FINAL))["output"] == "done"
    json.dumps(status)


async def test_a_body_over_the_limit_is_a_413_whether_it_came_whole_or_streamed(
    local_api: StartApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body that came with its head is read in place: the limit holds there too."""
    api = await local_api(lambda job: "never")
    over = b'{"input": {"x": "' + b"x" * (20 * 1024 * 1024) + b'"}}'
    status, answer = await api.call("POST", "/run", data=over)
    assert (status, answer) == (413, {"error": "request body over 20 MB"})
    monkeypatch.setattr(local_api_module, "MAX_BODY_BYTES", 1000)
    small = await local_api(lambda job: "never")
    status, answer = await small.call("POST", "/run", data=b'{"input": "' + b"x" * 2000 + b'"}')
    assert status == 413
    assert answer["error"].startswith("request body over")
    assert (await small.post("/runsync", {"input": {"n": 1}}))["output"] == "never"
