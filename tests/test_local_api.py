"""The local API in-process over real loopback HTTP: routes, kinds, limits, errors."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from rpworker import progress_update
from rpworker.local_api import serve
from tests.fixtures.local_api import StartApi

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


def plain(job: dict[str, Any]) -> dict[str, Any]:
    on_loop_thread = threading.current_thread() is threading.main_thread()
    return {"n": job["input"]["n"], "on_loop_thread": on_loop_thread}


async def coroutine(job: dict[str, Any]) -> int:
    return int(job["input"]["n"]) * 2


def generator(job: dict[str, Any]) -> Iterator[int]:
    yield from range(job["input"]["n"])


async def async_generator(job: dict[str, Any]) -> AsyncIterator[str]:
    for i in range(job["input"]["n"]):
        yield f"t{i}"


class CallableGenerator:
    def __call__(self, job: dict[str, Any]) -> Iterator[str]:
        yield "a"
        yield "b"


def scaled(job: dict[str, Any], factor: int) -> int:
    return int(job["input"]["n"]) * factor


@pytest.mark.parametrize(
    ("handler", "aggregate", "output", "chunks"),
    [
        (plain, False, {"n": 2, "on_loop_thread": False}, []),
        (coroutine, False, 4, []),
        (generator, False, [], [0, 1]),
        (generator, True, [0, 1], [0, 1]),
        (async_generator, True, ["t0", "t1"], ["t0", "t1"]),
        (CallableGenerator(), True, ["a", "b"], ["a", "b"]),
        (functools.partial(scaled, factor=5), False, 10, []),
    ],
)
async def test_every_handler_kind(
    local_api: StartApi, handler: Any, aggregate: bool, output: Any, chunks: list[Any]
) -> None:
    api = await local_api(handler, aggregate=aggregate)
    answer = await api.post("/runsync", {"input": {"n": 2}})
    assert answer["status"] == "COMPLETED"
    assert answer["output"] == output
    job = await api.post("/v2/my-endpoint/run", {"input": {"n": 2}})
    assert job["status"] == "IN_QUEUE"
    assert await api.stream_all(job["id"]) == chunks
    status = await api.get(f"/v2/my-endpoint/status/{job['id']}")
    assert status["output"] == output
    assert status["delayTime"] >= 0
    assert status["executionTime"] >= 0


async def test_concurrency_really_runs_n_jobs_at_once(local_api: StartApi) -> None:
    """Three sync jobs meet at a barrier: they only finish if all three run together."""
    barrier = threading.Barrier(3, timeout=30)

    def meet(job: dict[str, Any]) -> int:
        return barrier.wait()

    api = await local_api(meet, concurrency=3)
    answers = await asyncio.gather(*(api.post("/runsync", {"input": {}}) for _ in range(3)))
    assert sorted(a["output"] for a in answers) == [0, 1, 2]
    assert [a["status"] for a in answers] == ["COMPLETED"] * 3


async def test_extra_jobs_wait_in_queue_and_the_api_stays_responsive(local_api: StartApi) -> None:
    release = threading.Event()

    def blocking(job: dict[str, Any]) -> str:
        release.wait(30)
        return "released"

    api = await local_api(blocking, concurrency=2)
    try:
        ids = [(await api.post("/run", {"input": {}}))["id"] for _ in range(3)]
        await api.wait_status(ids[1], "IN_PROGRESS")
        health = await api.get("/health")
        assert health["jobs"]["inProgress"] == 2
        assert health["jobs"]["inQueue"] == 1
        assert health["workers"] == {"idle": 0, "running": 2}
        assert (await api.get(f"/status/{ids[2]}"))["status"] == "IN_QUEUE"
    finally:
        release.set()
    for job_id in ids:
        assert (await api.wait_status(job_id, *FINAL))["output"] == "released"
    assert (await api.get("/health"))["jobs"]["completed"] == 3


async def test_cancel_a_running_job(local_api: StartApi) -> None:
    async def endless(job: dict[str, Any]) -> AsyncIterator[int]:
        i = 0
        while True:
            yield i
            i += 1
            await asyncio.sleep(0.05)

    api = await local_api(endless)
    job = await api.post("/run", {"input": {}})
    first = await api.get(f"/stream/{job['id']}")
    assert first["status"] == "IN_PROGRESS"
    assert await api.post(f"/cancel/{job['id']}") == {"id": job["id"], "status": "CANCELLED"}
    assert (await api.get(f"/status/{job['id']}"))["status"] == "CANCELLED"
    await api.stream_all(job["id"])
    health = await api.get("/health")
    assert health["workers"]["running"] == 0


async def test_purge_queue_cancels_only_queued_jobs(local_api: StartApi) -> None:
    release = threading.Event()

    def blocking(job: dict[str, Any]) -> str:
        release.wait(30)
        return "done"

    api = await local_api(blocking)
    try:
        ids = [(await api.post("/run", {"input": {}}))["id"] for _ in range(3)]
        await api.wait_status(ids[0], "IN_PROGRESS")
        assert await api.post("/purge-queue") == {"removed": 2, "status": "completed"}
        assert (await api.get(f"/status/{ids[2]}"))["status"] == "CANCELLED"
    finally:
        release.set()
    assert (await api.wait_status(ids[0], *FINAL))["status"] == "COMPLETED"


async def test_yielded_error_fails_the_job_without_a_500(local_api: StartApi) -> None:
    def failing(job: dict[str, Any]) -> Iterator[Any]:
        yield "partial"
        yield {"error": "model crashed", "step": 1}

    api = await local_api(failing)
    answer = await api.post("/runsync", {"input": {}})
    assert answer["status"] == "FAILED"
    assert answer["error"] == "model crashed"
    assert answer["output"] == {"step": 1}
    job = await api.post("/run", {"input": {}})
    assert await api.stream_all(job["id"]) == ["partial", {"error": "model crashed", "step": 1}]
    assert (await api.get("/health"))["jobs"]["failed"] == 2


async def test_exception_gives_the_structured_error(local_api: StartApi) -> None:
    def broken(job: dict[str, Any]) -> None:
        raise RuntimeError("no GPU memory")

    api = await local_api(broken)
    answer = await api.post("/runsync", {"input": {}})
    assert answer["status"] == "FAILED"
    assert json.loads(answer["error"])["error_message"] == "no GPU memory"


async def test_progress_is_visible_until_the_result(local_api: StartApi) -> None:
    release = threading.Event()

    def slow(job: dict[str, Any]) -> str:
        progress_update(job, {"percent": 50})
        release.wait(30)
        return "done"

    api = await local_api(slow)
    job = await api.post("/run", {"input": {}})
    try:
        for _ in range(600):
            status = await api.get(f"/status/{job['id']}")
            if "output" in status:
                break
            await asyncio.sleep(0.05)
        assert status["status"] == "IN_PROGRESS"
        assert status["output"] == {"percent": 50}
    finally:
        release.set()
    assert (await api.wait_status(job["id"], *FINAL))["output"] == "done"


async def test_runsync_answers_a_non_final_status_after_its_wait(local_api: StartApi) -> None:
    release = asyncio.Event()

    async def waits(job: dict[str, Any]) -> str:
        await release.wait()
        return "late"

    api = await local_api(waits, runsync_wait_s=0.1)
    answer = await api.post("/runsync", {"input": {}})
    assert answer["status"] == "IN_PROGRESS"
    assert answer["id"].startswith("sync-")
    release.set()
    assert (await api.wait_status(answer["id"], *FINAL))["output"] == "late"
    assert (await api.post("/runsync?wait=5000", {"input": {}}))["output"] == "late"


async def test_execution_timeout_policy(local_api: StartApi) -> None:
    async def sleepy(job: dict[str, Any]) -> str:
        await asyncio.sleep(30)
        return "never"

    api = await local_api(sleepy)
    answer = await api.post("/runsync", {"input": {}, "policy": {"executionTimeout": 100}})
    assert answer["status"] == "TIMED_OUT"
    assert "executionTimeout" in answer["error"]


async def test_unread_stream_never_stalls_the_job(local_api: StartApi) -> None:
    def many(job: dict[str, Any]) -> Iterator[int]:
        yield from range(50)

    api = await local_api(many, aggregate=True, stream_buffer=3)
    answer = await api.post("/runsync", {"input": {}})
    assert answer["output"] == list(range(50))
    assert [c["output"] for c in (await api.get(f"/stream/{answer['id']}"))["stream"]] == [
        47,
        48,
        49,
    ]


async def test_finished_jobs_are_evicted_after_the_retention(local_api: StartApi) -> None:
    api = await local_api(plain, job_retention_s=0.2)
    done = await api.post("/runsync", {"input": {"n": 1}})
    assert (await api.get(f"/status/{done['id']}"))["status"] == "COMPLETED"
    await asyncio.sleep(0.4)
    status, answer = await api.call("GET", f"/status/{done['id']}")
    assert status == 404
    assert "evicted" in answer["error"]
    assert (await api.get("/health"))["jobs"]["completed"] == 1


async def test_unserializable_output_fails_clearly(local_api: StartApi) -> None:
    api = await local_api(lambda job: {"value": object()})
    answer = await api.post("/runsync", {"input": {}})
    assert answer["status"] == "FAILED"
    assert "not JSON-serializable" in answer["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "message"),
    [
        ("POST", "/run", b"{not json", 400, "not valid JSON"),
        ("POST", "/run", b"", 400, "request body is empty"),
        ("POST", "/run", b'{"input": "\xff"}', 400, "not valid JSON"),
        ("POST", "/run", b"[1]", 400, "must be a JSON object"),
        ("POST", "/runsync", b'{"prompt": "x"}', 400, 'has no "input"'),
        ("POST", "/run", b'{"input": "text"}', 400, '"input" must be a JSON object, got str'),
        ("POST", "/run", b'{"input": {}, "webhook": 3}', 400, '"webhook" must be a URL'),
        (
            "POST",
            "/run",
            b'{"input": {}, "policy": {"executionTimeout": -1}}',
            400,
            "executionTimeout",
        ),
        ("POST", "/runsync?wait=soon", b'{"input": {}}', 400, "wait must be milliseconds"),
        ("GET", "/status/nope", None, 404, "no job 'nope'"),
        ("GET", "/v2/ep/stream/nope", None, 404, "no job 'nope'"),
        ("POST", "/cancel/nope", None, 404, "no job 'nope'"),
        ("GET", "/v3/run", None, 404, "no route /v3/run"),
        ("PUT", "/run", None, 405, "Method Not Allowed"),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_message(
    local_api: StartApi, method: str, path: str, body: bytes | None, code: int, message: str
) -> None:
    api = await local_api(plain)
    status, answer = await api.call(method, path, data=body)
    assert status == code
    assert message in answer["error"]


async def test_health_carries_gpu_facts(local_api: StartApi) -> None:
    api = await local_api(plain, gpu_facts=lambda: {"devices": 1})
    assert (await api.get("/health"))["gpu"] == {"devices": 1}

    def broken() -> dict[str, Any]:
        raise OSError("NVML missing")

    api = await local_api(plain, gpu_facts=broken)
    assert "NVML missing" in (await api.get("/health"))["gpu"]["error"]


async def test_webhook_gets_the_final_status_with_retries(local_api: StartApi) -> None:
    received: list[Any] = []
    got_it = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        if len(received) == 1:
            return web.Response(status=503)
        got_it.set()
        return web.Response()

    hooks = web.Application()
    hooks.router.add_post("/hook", hook)
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    receiver = asyncio.ensure_future(serve(hooks, "127.0.0.1", 0, ready=bound.set_result))
    try:
        api = await local_api(coroutine)
        job = await api.post("/run", {"input": {"n": 4}, "webhook": f"{await bound}/hook"})
        await asyncio.wait_for(got_it.wait(), 30)
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    assert len(received) == 2
    assert received[1]["id"] == job["id"]
    assert received[1]["status"] == "COMPLETED"
    assert received[1]["output"] == 8
