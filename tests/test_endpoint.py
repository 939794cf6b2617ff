"""`rpbuild up` with local rpworker processes: the hosted API, scaling, lost workers.

Everything here runs real worker processes over real HTTP on loopback; the
same code runs containers in test_endpoint_docker.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from builder.commands.cli import main
from builder.endpoint.pool import Scaler, WorkersFailing
from tests.fixtures.docker_engine import SEED_HANDLER, SEED_TOKENS
from tests.fixtures.endpoint import (
    LONG_HANDLER,
    OFFICIAL_CLIENT,
    Client,
    StartEndpoint,
    run_official_client,
)


def _process(client: Client, worker_id: str) -> asyncio.subprocess.Process:
    process = client.endpoint.pool.workers[worker_id].process
    assert process is not None
    return process.process


async def _ready_workers(client: Client) -> int:
    health = await client.call("GET", "/health")
    return int(health["workers"]["idle"] + health["workers"]["running"])


@pytest.mark.venv
async def test_the_official_client_works_unchanged_against_two_workers(
    start_endpoint: StartEndpoint, tmp_path: Path
) -> None:
    client = await start_endpoint(SEED_HANDLER.read_text(), min_workers=2, max_workers=2)
    code, out, err = await run_official_client(OFFICIAL_CLIENT, client.endpoint.api_url, tmp_path)
    assert code == 0, f"{err}\nevents: {client.events}"
    seen = json.loads(out.splitlines()[-1])
    assert seen["run_sync"] == SEED_TOKENS
    assert seen["together"] is True
    assert seen["stream"] == SEED_TOKENS
    assert seen["output"] == SEED_TOKENS
    assert seen["cancel"]["status"] == seen["cancelled"] == "CANCELLED"
    assert seen["purge"] == {"removed": 0, "status": "completed"}
    assert seen["health"]["jobs"]["completed"] == 3
    assert seen["health"]["workers"]["idle"] + seen["health"]["workers"]["running"] == 2


async def test_chunks_reach_the_stream_one_at_a_time_as_produced(
    start_endpoint: StartEndpoint,
) -> None:
    client = await start_endpoint(SEED_HANDLER.read_text(), min_workers=1)
    job_id = await client.run({"prompt": "hi"})
    answers = []
    while True:
        part = await client.call("GET", f"/stream/{job_id}")
        if part["stream"]:
            answers.append((part["status"], [item["output"] for item in part["stream"]]))
        elif part["status"] == "COMPLETED":
            break
    assert [chunks for _, chunks in answers] == [[token] for token in SEED_TOKENS]
    assert {status for status, _ in answers[:4]} == {"IN_PROGRESS"}
    final = await client.final(job_id)
    assert final["output"] == SEED_TOKENS
    assert final["executionTime"] > 0


async def test_a_burst_adds_workers_one_per_job_and_idle_ones_go(
    start_endpoint: StartEndpoint,
) -> None:
    client = await start_endpoint(
        LONG_HANDLER, min_workers=1, max_workers=3, idle_timeout_s=0.5,
        scaler=Scaler.REQUEST_COUNT, scaler_value=1,
    )  # fmt: skip
    await client.until(lambda: "cold start" in " ".join(client.events), "ready")
    jobs = [await client.run({"chunks": 30, "pause": 0.1}) for _ in range(3)]
    await client.until(lambda: len(client.endpoint.queue.running) == 3, "three jobs running")
    assert await _ready_workers(client) == 3
    for job_id in jobs:
        assert (await client.final(job_id))["status"] == "COMPLETED"
    await client.until(lambda: len(client.endpoint.pool.workers) == 1, "back to --min-workers")
    rows = client.endpoint.pool.describe()
    assert [row["state"] for row in rows].count("gone") == 2
    assert all(row["coldStartMs"] > 0 for row in rows)


async def test_the_queue_delay_scaler_adds_a_worker_when_a_job_waits(
    start_endpoint: StartEndpoint,
) -> None:
    client = await start_endpoint(LONG_HANDLER, min_workers=1, max_workers=2, scaler_value=0.5)
    first = await client.run({"chunks": 30, "pause": 0.1})
    second = await client.run({"chunks": 1})
    await client.until(lambda: "worker-2 ready" in " ".join(client.events), "worker-2 up")
    assert (await client.final(second))["status"] == "COMPLETED"
    assert (await client.call("GET", f"/status/{first}"))["status"] == "IN_PROGRESS"


async def test_a_worker_killed_mid_job_is_replaced_and_the_job_retried(
    start_endpoint: StartEndpoint,
) -> None:
    client = await start_endpoint(LONG_HANDLER, min_workers=1, max_workers=1)
    job_id = await client.run({"chunks": 10, "pause": 0.1})
    await client.until(lambda: job_id in client.endpoint.queue.running, "running")
    _process(client, "worker-1").kill()
    final = await client.final(job_id)
    assert final["status"] == "COMPLETED"
    assert final["output"] == list(range(10))
    health = await client.call("GET", "/health")
    assert health["jobs"]["retried"] == 1
    assert "worker-2" in client.endpoint.pool.workers
    assert any("worker-1 exited" in event and job_id in event for event in client.events)


async def test_a_silent_worker_is_replaced(start_endpoint: StartEndpoint) -> None:
    client = await start_endpoint(LONG_HANDLER, min_workers=1, max_workers=1, silence_s=1.5)
    await client.until(lambda: "worker-1 ready" in " ".join(client.events), "ready")
    _process(client, "worker-1").send_signal(signal.SIGSTOP)
    job_id = await client.run({"chunks": 2, "pause": 0})
    assert (await client.final(job_id))["status"] == "COMPLETED"
    assert any("worker-1 silent" in event for event in client.events)


async def test_a_job_that_kills_every_worker_fails_after_two(
    start_endpoint: StartEndpoint,
) -> None:
    client = await start_endpoint(
        "import os\ndef handler(job):\n    os._exit(3)\n", min_workers=1, max_workers=1
    )
    final = await client.final(await client.run({}))
    assert final["status"] == "FAILED"
    assert "lost with 2 workers" in final["error"]
    assert (await client.call("GET", "/health"))["jobs"]["retried"] == 1


async def test_workers_that_never_start_stop_the_endpoint_with_the_reason(
    start_endpoint: StartEndpoint,
) -> None:
    client = await start_endpoint("raise SystemExit('no model here')\n", min_workers=1)
    with pytest.raises(WorkersFailing, match=r"3 workers in a row failed.*exited with status 1"):
        await asyncio.wait_for(client.endpoint.wait(), 60)
    assert "no model here" in "\n".join(client.events)


async def test_cancel_purge_and_execution_timeout(start_endpoint: StartEndpoint) -> None:
    client = await start_endpoint(LONG_HANDLER, min_workers=1, max_workers=1)
    running = await client.run({})
    queued = [await client.run({}) for _ in range(2)]
    await client.until(lambda: running in client.endpoint.queue.running, "running")
    assert await client.call("POST", "/purge-queue") == {"removed": 2, "status": "completed"}
    assert {(await client.final(job_id))["status"] for job_id in queued} == {"CANCELLED"}
    cancelled = await client.call("POST", f"/cancel/{running}")
    assert cancelled == {"id": running, "status": "CANCELLED"}
    body = {"input": {}, "policy": {"executionTimeout": 300}}
    timed = (await client.call("POST", "/run", body))["id"]
    final = await client.final(timed)
    assert final["status"] == "TIMED_OUT", final
    quick = await client.run({"chunks": 1})
    assert (await client.final(quick))["output"] == [0]


async def test_refusals_are_json_errors(start_endpoint: StartEndpoint) -> None:
    client = await start_endpoint(LONG_HANDLER, min_workers=0)
    for method, route, body, status, text in [
        ("POST", "/run", {"no": "input"}, 400, '"input"'),
        ("GET", "/status/nope", None, 404, "no job 'nope'"),
        ("POST", "/runsync?wait=x", {"input": {}}, 400, "wait must be"),
    ]:
        async with client.session.request(method, client.base + route, json=body) as response:
            assert response.status == status
            assert text in (await response.json())["error"]
    worker_route = f"{client.base}/job-take/intruder"
    async with client.session.get(worker_route, headers={"Authorization": "wrong"}) as response:
        assert response.status == 401


async def _up_with_workers(
    tmp_path: Path, workers: int
) -> tuple[asyncio.subprocess.Process, Path, list[str]]:
    """`rpbuild up DIR` until its workers took their first poll; each leaves pid-PID in DIR."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "handler.py").write_text(
        "import os, pathlib, runpod\n"
        "pathlib.Path(f'pid-{os.getpid()}').touch()\n"
        "runpod.serverless.start({'handler': lambda job: job['input']})\n"
    )
    rpbuild = Path(sys.executable).with_name("rpbuild")
    argv = [str(rpbuild), "up", str(app), "--port", "0", "--min-workers", str(workers)]
    process = await asyncio.create_subprocess_exec(
        *argv, "--gpu-check", "off", stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    said: list[str] = []
    while sum("cold start" in line for line in said) < workers:
        line = await asyncio.wait_for(process.stderr.readline(), 60)
        assert line, "\n".join(said)
        said.append(line.decode())
    return process, app, said


def _pids(app: Path) -> list[int]:
    return [int(path.name.split("-")[1]) for path in app.glob("pid-*")]


async def test_ctrl_c_stops_every_worker(tmp_path: Path) -> None:
    process, app, _ = await _up_with_workers(tmp_path, 2)
    assert process.stderr is not None
    process.send_signal(signal.SIGINT)
    rest = await asyncio.wait_for(process.stderr.read(), 60)
    assert await process.wait() == 0, rest.decode()
    pids = _pids(app)
    assert len(pids) == 2
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), rest.decode()


async def test_a_killed_rpbuild_up_takes_its_workers_with_it(tmp_path: Path) -> None:
    """kill -9 leaves rpbuild up no chance to stop them: the kernel sends them SIGTERM."""
    process, app, _ = await _up_with_workers(tmp_path, 1)
    process.kill()
    await process.wait()
    (worker,) = _pids(app)
    for _ in range(600):
        if not Path(f"/proc/{worker}").exists():
            break
        await asyncio.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its rpbuild up")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-workers", "3", "--max-workers", "2"], "--min-workers 3 is more than"),
        (["--handler", "nope.py"], "nope.py does not exist"),
        (["-e", "NOEQUALS"], "'NOEQUALS' is not KEY=VALUE"),
    ],
)
def test_up_refuses_bad_options_by_name(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "handler.py").write_text(SEED_HANDLER.read_text())
    result = CliRunner().invoke(main, ["up", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_up_names_a_target_that_can_only_be_a_missing_directory(tmp_path: Path) -> None:
    """Before, each was taken for an image: 'not found in the engine', exit 1 (QA 13)."""
    (tmp_path / "afile").write_text("")
    for target, message in (
        (str(tmp_path / "nonexistent"), f"directory {tmp_path / 'nonexistent'} does not exist"),
        ("./nonexistent", "directory ./nonexistent does not exist"),
        ("no/Such", "directory no/Such does not exist, and it is no image reference: 'Such'"),
        (str(tmp_path / "afile"), f"{tmp_path / 'afile'} is a file"),
    ):
        result = CliRunner().invoke(main, ["up", target])
        assert result.exit_code == 2, result.output
        assert "Invalid value for 'IMAGE | DIR'" in result.output
        assert message in result.output, result.output
        assert "not found in the engine" not in result.output


async def test_a_concurrent_worker_holds_several_jobs(start_endpoint: StartEndpoint) -> None:
    client = await start_endpoint(
        LONG_HANDLER.replace("CONFIG = {", 'CONFIG = {"concurrency_modifier": lambda n: 2, '),
        min_workers=1,
        max_workers=1,
    )
    jobs = [await client.run({"chunks": 20, "pause": 0.1}) for _ in range(2)]
    await client.until(lambda: len(client.endpoint.queue.running) == 2, "both jobs running")
    [worker] = client.endpoint.pool.describe()
    assert (worker["state"], sorted(worker["jobs"])) == ("running", sorted(jobs))
    assert (await client.call("GET", "/health"))["workers"]["running"] == 1
    for job_id in jobs:
        assert (await client.final(job_id))["status"] == "COMPLETED"


async def test_a_finished_job_is_posted_to_its_webhook(start_endpoint: StartEndpoint) -> None:
    received: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        client = await start_endpoint(LONG_HANDLER, min_workers=1)
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        body = {"input": {"chunks": 2, "pause": 0}, "webhook": url}
        job_id = (await client.call("POST", "/run", body))["id"]
        posted = await asyncio.wait_for(received.get(), 60)
        assert (posted["id"], posted["status"], posted["output"]) == (job_id, "COMPLETED", [0, 1])
    finally:
        await runner.cleanup()
