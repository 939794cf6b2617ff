"""A built image as the platform runs it: `docker run IMAGE` with the platform's env.

The container joins the host network and talks to the platform emulator on
127.0.0.1, exactly as a worker talks to RunPod: take, stream, done, ping.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from builder import engine
from builder.endpoint.emulator import Emulator
from tests.fixtures.docker_engine import SEED_TOKENS

pytestmark = pytest.mark.docker


class Container:
    """A `docker run` of a worker image, in the foreground as the platform runs it."""

    def __init__(self, builder: engine.Builder, name: str, process: asyncio.subprocess.Process):
        self.builder, self.name, self.process = builder, name, process

    async def stop(self) -> int:
        """`docker stop` sends SIGTERM, as the platform does when it scales a worker in."""
        stopper = await asyncio.create_subprocess_exec(
            self.builder.client, "stop", "-t", "30", self.name, stdout=asyncio.subprocess.DEVNULL
        )
        await stopper.wait()
        return await self.exit_code()

    async def exit_code(self) -> int:
        return await asyncio.wait_for(self.process.wait(), 60)

    async def output(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.read()).decode()


RunContainer = Callable[..., Awaitable[Container]]


@pytest.fixture
async def run_container(
    docker_builder: engine.Builder, emulator: Emulator
) -> AsyncIterator[RunContainer]:
    names: list[str] = []

    async def run(image: str, **env: str) -> Container:
        name = f"rpbuild-test-{uuid.uuid4().hex[:12]}"
        names.append(name)
        variables = {**emulator.env(), "RUNPOD_PING_INTERVAL": "500", **env}
        flags = [arg for key, value in variables.items() for arg in ("-e", f"{key}={value}")]
        process = await asyncio.create_subprocess_exec(
            docker_builder.client,
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            "host",
            *flags,
            image,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return Container(docker_builder, name, process)

    yield run
    for name in names:
        cleanup = await asyncio.create_subprocess_exec(
            docker_builder.client,
            "rm",
            "-f",
            name,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await cleanup.wait()


async def test_the_image_serves_platform_jobs_and_stops_gracefully(
    seed_image: str, emulator: Emulator, run_container: RunContainer
) -> None:
    ids = await emulator.submit({"prompt": "a"}, {"prompt": "b"})
    worker = await run_container(seed_image, RPWORKER_GPU_CHECK="off")
    await emulator.wait_results(2, timeout=90)
    assert await worker.stop() == 0, await worker.output()
    for job_id in ids:
        assert emulator.results[job_id] == {"output": SEED_TOKENS}
        assert emulator.chunks[job_id] == SEED_TOKENS
    assert any(query.get("job_id") for _, query in emulator.pings)


async def test_a_gpu_image_without_a_gpu_fails_fast_with_an_unhealthy_ping(
    seed_image: str, emulator: Emulator, run_container: RunContainer
) -> None:
    await emulator.submit({"prompt": "never taken"})
    worker = await run_container(seed_image)
    assert await worker.exit_code() == 1
    output = await worker.output()
    [(_, ping)] = emulator.pings
    assert (ping["status"], ping["check"]) == ("unhealthy", "gpu"), output
    assert "--gpus all" in ping["reason"] + output
    assert emulator.takes == []


def test_any_other_command_runs_as_given(docker_builder: engine.Builder, seed_image: str) -> None:
    """`docker run IMAGE CMD` runs CMD, as with any image; only a handler start runs the worker."""

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker_builder.client, "run", "--rm", "--network", "none", seed_image, *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    printed = run("python", "-c", "print(42)")
    assert (printed.returncode, printed.stdout) == (0, "42\n"), printed.stderr
    listed = run("ls", "/app")
    assert listed.returncode == 0, listed.stderr
    assert "handler.py" in listed.stdout.split()
