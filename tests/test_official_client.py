"""The official ``runpod`` client (PyPI, in its own venv) against our local API."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.worker_process import ApiProcess, write_handler

SDK_PYTHON = Path(__file__).resolve().parents[1] / ".cache" / "venvs" / "runpod" / "bin" / "python"

HANDLER = """
import asyncio
CONFIG = {"return_aggregate_stream": True}
async def handler(job):
    if job["input"].get("forever"):
        while True:
            yield "tick"
            await asyncio.sleep(0.1)
    for i in range(job["input"]["count"]):
        yield f"t{i}"
        await asyncio.sleep(0.05)
"""

CLIENT = """
import json, time
import runpod

runpod.api_key = "local-key"
endpoint = runpod.Endpoint("local-endpoint")
seen = {"health": endpoint.health()}
seen["run_sync"] = endpoint.run_sync({"input": {"count": 3}}, timeout=60)
job = endpoint.run({"input": {"count": 2}})
seen["run_status"] = job.status()
seen["run_output"] = job.output(timeout=60)
seen["stream"] = list(endpoint.run({"input": {"count": 4}}).stream())
forever = endpoint.run({"input": {"forever": True}})
while forever.status() != "IN_PROGRESS":
    time.sleep(0.05)
seen["cancel"] = forever.cancel()
seen["cancelled_status"] = forever.status()
seen["purge_queue"] = endpoint.purge_queue()
print(json.dumps({**seen, "cancel_id_matches": seen["cancel"]["id"] == forever.job_id}))
"""


@pytest.mark.venv
def test_official_client_works_unchanged(
    tmp_path: Path, api_process: Callable[..., ApiProcess]
) -> None:
    if not SDK_PYTHON.is_file():
        pytest.fail(f"the reference SDK venv is missing ({SDK_PYTHON}): run scripts/setup")
    api = api_process(write_handler(tmp_path, HANDLER))
    done = subprocess.run(
        [str(SDK_PYTHON), "-c", CLIENT],
        cwd=tmp_path,
        env={**os.environ, "RUNPOD_ENDPOINT_BASE_URL": f"{api.url}/v2"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{done.stderr}\n--- server log:\n{api.log()}"
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["health"]["jobs"]["completed"] == 0
    assert seen["health"]["workers"] == {"idle": 1, "running": 0}
    assert seen["run_sync"] == ["t0", "t1", "t2"]
    assert seen["run_status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    assert seen["run_output"] == ["t0", "t1"]
    assert seen["stream"] == ["t0", "t1", "t2", "t3"]
    assert seen["cancel"]["status"] == "CANCELLED"
    assert seen["cancel_id_matches"] is True
    assert seen["cancelled_status"] == "CANCELLED"
    assert seen["purge_queue"] == {"removed": 0, "status": "completed"}
