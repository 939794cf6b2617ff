"""`rpbuild up IMAGE`: containers of the seed's image as the endpoint's workers.

Each container runs the image's own entrypoint with the platform's variables,
on the host network, and talks to the endpoint on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder import engine
from builder.commands.cmd_up import image_test_input
from builder.endpoint import launchers
from builder.endpoint.launchers import ContainerLauncher
from builder.endpoint.pool import Scaler, WorkersFailing
from tests.fixtures.docker_engine import SEED_TOKENS
from tests.fixtures.endpoint import NO_GPU, OFFICIAL_CLIENT, StartEndpoint, run_official_client

pytestmark = pytest.mark.docker


@pytest.fixture
def containers() -> Iterator[str]:
    """A unique container name prefix; whatever is left under it is removed after the test."""
    prefix = f"rpbuild-up-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = engine.client()
    listed = subprocess.run(
        [client, "ps", "-aq", "--filter", f"name={prefix}"], capture_output=True, text=True
    )
    left = listed.stdout.split()
    if left:
        subprocess.run([client, "rm", "--force", *left], capture_output=True)
    assert not left, f"rpbuild up left containers running: {left}"


async def _running_containers(prefix: str) -> list[str]:
    """:func:`_running` off the event loop the endpoint under test runs on."""
    return await asyncio.to_thread(_running, prefix)


@pytest.mark.venv
async def test_the_official_client_against_two_containers(
    seed_image: str, containers: str, start_endpoint: StartEndpoint, tmp_path: Path
) -> None:
    launcher = ContainerLauncher(seed_image, containers, extra_env=NO_GPU)
    client = await start_endpoint(launcher, min_workers=2, max_workers=2)
    code, out, err = await run_official_client(OFFICIAL_CLIENT, client.endpoint.api_url, tmp_path)
    assert code == 0, f"{err}\nevents: {client.events}"
    seen = json.loads(out.splitlines()[-1])
    assert seen["run_sync"] == seen["stream"] == seen["output"] == SEED_TOKENS
    assert seen["together"] is True
    assert seen["cancelled"] == "CANCELLED"
    assert len(await _running_containers(containers)) == 2
    await client.endpoint.close()
    assert await _running_containers(containers) == []


async def test_a_burst_adds_a_container_a_killed_one_is_replaced_idle_ones_go(
    seed_image: str, containers: str, start_endpoint: StartEndpoint
) -> None:
    launcher = ContainerLauncher(seed_image, containers, extra_env=NO_GPU)
    client = await start_endpoint(
        launcher, min_workers=1, max_workers=2, idle_timeout_s=1,
        scaler=Scaler.REQUEST_COUNT, scaler_value=1,
    )  # fmt: skip
    jobs = [await client.run({"prompt": str(n)}) for n in range(2)]
    await client.until(lambda: len(client.endpoint.queue.running) == 2, "two jobs running", 120)
    assert len(await _running_containers(containers)) == 2
    victim = client.endpoint.queue.running[jobs[0]].worker_id
    killed = await asyncio.create_subprocess_exec(
        engine.client(), "kill", f"{containers}-{os.getpid()}-{victim}", stdout=subprocess.DEVNULL
    )
    assert await killed.wait() == 0
    for job_id in jobs:
        final = await client.final(job_id, timeout=120)
        assert (final["status"], final["output"]) == ("COMPLETED", SEED_TOKENS)
    assert (await client.call("GET", "/health"))["jobs"]["retried"] == 1
    assert any(f"{victim} exited" in event for event in client.events), client.events
    await client.until(lambda: len(client.endpoint.pool.workers) == 1, "back to one", 60)
    assert len(await _running_containers(containers)) == 1


async def test_the_gpu_check_is_honoured_by_default(
    seed_image: str, containers: str, start_endpoint: StartEndpoint
) -> None:
    client = await start_endpoint(ContainerLauncher(seed_image, containers), min_workers=1)
    with pytest.raises(WorkersFailing, match=r"gpu check failed.*--gpu-check warn"):
        await asyncio.wait_for(client.endpoint.wait(), 180)


def test_the_playground_is_prefilled_from_the_image(
    seed_image: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./test_input.json: the image's is used
    prefill = image_test_input(engine.find_builder(), seed_image)
    assert json.loads(prefill) == {"input": {"prompt": "hi"}}


def _running(prefix: str) -> list[str]:
    listed = subprocess.run(
        [engine.client(), "ps", "-q", "--filter", f"name={prefix}"], capture_output=True, text=True
    )
    return listed.stdout.split()


def _until_running(prefix: str, timeout_s: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running := _running(prefix):
            return running
        time.sleep(0.5)
    raise AssertionError(f"no container {prefix}* started within {timeout_s} s")


def test_a_killed_rpbuild_up_stops_its_containers(
    seed_image: str, containers: str, tmp_path: Path
) -> None:
    """kill -9 gives rpbuild up no chance to stop its workers: its docker run clients get
    SIGTERM from the kernel and pass it on, so the containers stop and are removed."""
    project = tmp_path / containers.removeprefix("rpbuild-up-")
    project.mkdir()
    rpbuild = str(Path(sys.executable).with_name("rpbuild"))
    argv = [rpbuild, "up", seed_image, "--port", "0", "--gpu-check", "off"]
    up = subprocess.Popen(argv, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until_running(containers)
    finally:
        up.kill()
        up.wait()
    deadline = time.monotonic() + 120
    while _running(containers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _running(containers) == [], "the containers outlived their rpbuild up"


def test_containers_left_by_a_killed_rpbuild_up_are_removed(
    seed_image: str, containers: str
) -> None:
    """The safety net for workers that outlived their rpbuild up (their docker run
    killed too): the next rpbuild up removes them; another live one's stay."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    owners = {"gone": f"{socket.gethostname()}/{ended.pid}", "live": launchers._owner()}
    for which, owner in owners.items():
        started = subprocess.run(
            [engine.client(), "run", "-d", "--name", f"{containers}-{which}", "--label",
             f"{launchers.OWNER_LABEL}={owner}", "--entrypoint", "sleep", seed_image, "300"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
    try:
        assert launchers.remove_orphans() == [f"{containers}-gone"]
        assert len(_running(containers)) == 1
    finally:
        subprocess.run([engine.client(), "rm", "-f", f"{containers}-live"], capture_output=True)
