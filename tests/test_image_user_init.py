"""A user and an init: the worker runs as the configured non-root user, and PID 1
reaps the orphans a handler's subprocesses leave behind. The build says which
credential it left out."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from builder import engine
from tests.fixtures.docker_engine import base_flags, rpbuild

# Starts `sh`, which starts `sleep` in the background and exits: sleep is orphaned,
# adopted by PID 1, and a zombie once it ends unless PID 1 waits for it.
HANDLER = """\
import os
import pathlib
import subprocess
import time

import runpod


def zombies():
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":
            found.append(stat.parent.name)
    return found


def handler(job):
    subprocess.run(["sh", "-c", "sleep 0.2 &"], check=True)
    time.sleep(2)
    pathlib.Path("/app/written-by-worker.txt").write_text("ok")
    pathlib.Path(os.path.expanduser("~/cache.txt")).write_text("ok")
    return {"uid": os.getuid(), "home": os.path.expanduser("~"), "zombies": zombies()}


runpod.serverless.start({"handler": handler})
"""


@pytest.mark.docker
def test_the_worker_runs_as_the_user_and_pid_1_reaps_orphans(
    docker_builder: engine.Builder, gpu_base: object, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "handler.py").write_text(HANDLER)
    (project / "rpbuild.yaml").write_text("user: worker\n")
    (project / ".env").write_text("TOKEN=do-not-ship\n")
    tag = f"local/rpbuild-user-{uuid.uuid4().hex[:12]}:test"
    try:
        code, _, output = rpbuild("image", str(project), *base_flags(), "-t", tag, "--no-verify")
        assert code == 0, output
        assert output.count("left out .env") == 1, output
        job = json.dumps({"input": {}})
        run = subprocess.run(
            [docker_builder.client, "run", "--rm", "--network", "none", tag, "--test_input", job],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        outputs = [r["output"] for r in results if "output" in r]
        assert outputs, run.stdout + run.stderr
        result = outputs[-1]
        assert result["uid"] != 0
        assert result["home"] == "/home/worker"
        assert result["zombies"] == []
    finally:
        subprocess.run([docker_builder.client, "rmi", "-f", tag], capture_output=True)
