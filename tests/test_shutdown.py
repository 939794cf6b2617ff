"""SIGTERM/SIGINT: stop taking at once, let running jobs finish, fail the stragglers."""

from __future__ import annotations

import signal

import pytest

from builder.endpoint.emulator import Emulator, Faults
from tests.fixtures.platform import StartWorker

SLEEPERS = """
import asyncio
import time
async def sleeper(job):
    await asyncio.sleep(job["input"])
    return job["input"]
def spinner(job):
    end = time.monotonic() + job["input"]
    while time.monotonic() < end:
        pass
    return "spun"
handler = sleeper
CONFIG = {"concurrency_modifier": lambda current: 20}
"""


async def _all_taken(emulator: Emulator) -> None:
    """Until the queue is empty and the latest ping reports running jobs."""
    await emulator.wait_for(
        lambda: not emulator.queue and bool(emulator.pings and emulator.pings[-1][1].get("job_id"))
    )


async def test_sigterm_lets_twenty_running_jobs_post(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    emulator.long_poll_s = 120  # an open take must be cancelled, not waited out
    ids = await emulator.submit(*[1.5] * 20)
    worker = await start_worker(SLEEPERS, RUNPOD_PING_INTERVAL="100")
    await _all_taken(emulator)
    worker.signal(signal.SIGTERM)
    assert await worker.wait(timeout=30) == 0
    assert emulator.results == {job_id: {"output": 1.5} for job_id in ids}


async def test_grace_expiry_reports_running_jobs_failed(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    ids = await emulator.submit(60, 60)
    worker = await start_worker(
        SLEEPERS + "handler = lambda job: (sleeper if job['id'].endswith('1') else spinner)(job)\n",
        RUNPOD_PING_INTERVAL="100",
        RPWORKER_SHUTDOWN_GRACE="0.5",
    )
    await _all_taken(emulator)
    worker.signal(signal.SIGTERM)
    assert await worker.wait(timeout=30) == 0
    assert set(emulator.results) == set(ids)
    for body in emulator.results.values():
        assert "still running after the 0.5s grace period" in body["error"]


async def test_second_signal_ends_the_grace_period(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    (job_id,) = await emulator.submit(60)
    worker = await start_worker(SLEEPERS, RUNPOD_PING_INTERVAL="100")
    await _all_taken(emulator)
    worker.signal(signal.SIGTERM)
    await emulator.wait_for(lambda: "finishing running jobs" in worker.output)
    worker.signal(signal.SIGINT)
    assert await worker.wait(timeout=30) == 0
    assert "grace period" in emulator.results[job_id]["error"]


@pytest.mark.parametrize(
    ("grace", "runs_s", "signals"),
    [("1", 60, 1), ("60", 0, 2)],
    ids=["grace-expires", "second-signal"],
)
async def test_shutdown_is_bounded_while_result_posts_hang(
    emulator: Emulator, start_worker: StartWorker, grace: str, runs_s: int, signals: int
) -> None:
    """Row 5: retries stop at the deadline (the grace's, or a second signal's), and what
    was not posted is logged by job id."""
    emulator.faults = {"done": Faults(slow_rate=1.0, slow_s=600)}
    (job_id,) = await emulator.submit(runs_s)
    worker = await start_worker(SLEEPERS, RUNPOD_PING_INTERVAL="100", RPWORKER_SHUTDOWN_GRACE=grace)
    await _all_taken(emulator)
    worker.signal(signal.SIGTERM)
    if signals == 2:
        await emulator.wait_for(lambda: "finishing running jobs" in worker.output)
        worker.signal(signal.SIGTERM)
    assert await worker.wait(timeout=30) == 0
    assert f"job {job_id}: result not posted" in worker.output
