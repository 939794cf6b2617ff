"""The seed example, byte for byte, end to end through ``rpworker FILE --rp_serve_api``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.local_api import ApiClient
from tests.fixtures.worker_process import ApiProcess

# The seed example exactly as users receive it, vendored so a clone alone runs the suite.
SEED = Path(__file__).resolve().parent / "data" / "seed_handler.py"
TOKENS = [f"Generated async token output {i}" for i in range(5)]


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    return Path(shutil.copyfile(SEED, tmp_path / "seed_handler.py"))


@pytest.fixture
async def seed_api(
    seed_file: Path, api_process: Callable[..., ApiProcess]
) -> AsyncIterator[ApiClient]:
    api = api_process(seed_file)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield ApiClient(session, api.url)


async def test_run_stream_status(seed_api: ApiClient) -> None:
    job = await seed_api.post("/run", {"input": {"prompt": "hi"}})
    assert job["status"] == "IN_QUEUE"
    answers: list[dict[str, Any]] = []
    while not answers or answers[-1]["status"] != "COMPLETED" or answers[-1]["stream"]:
        answers.append(await seed_api.get(f"/v2/seed/stream/{job['id']}"))
    chunks = [item["output"] for answer in answers for item in answer["stream"]]
    assert chunks == TOKENS
    first = next(answer for answer in answers if answer["stream"])
    assert first["status"] == "IN_PROGRESS", "the first token must arrive before the job ends"
    assert [item["output"] for item in first["stream"]] == TOKENS[:1]
    status = await seed_api.get(f"/status/{job['id']}")
    assert status["status"] == "COMPLETED"
    assert status["output"] == TOKENS
    assert status["executionTime"] > 0


async def test_cancel_a_running_job(seed_api: ApiClient) -> None:
    job = await seed_api.post("/run", {"input": {}})
    first = await seed_api.get(f"/stream/{job['id']}")
    assert first["status"] == "IN_PROGRESS"
    cancelled = await seed_api.post(f"/v2/seed/cancel/{job['id']}")
    assert cancelled == {"id": job["id"], "status": "CANCELLED"}
    status = await seed_api.get(f"/status/{job['id']}")
    assert status["status"] == "CANCELLED"
    assert "output" not in status
    health = await seed_api.get("/health")
    assert health["workers"] == {"idle": 1, "running": 0}
