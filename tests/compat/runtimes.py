"""Run one handler file under rpworker or under the reference SDK, in each mode.

Each run copies the handler into a directory of its own (handlers write files
in their working directory) and returns what a client would see, so the two
runtimes' answers can be compared as they are.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.endpoint.emulator import Emulator
from tests.compat.sdk import sdk_python
from tests.fixtures.processes import stop

HANDLERS = Path(__file__).resolve().parents[1] / "compat_handlers"
RPWORKER = str(Path(sys.executable).with_name("rpworker"))
SDK_RESULT = "DEBUG  | local_test | run_job return: "

QUIET_PRODUCTION = {
    # The SDK's startup checks would probe a GPU and connect to 8.8.8.8; ours has one switch.
    "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
    "RUNPOD_SKIP_GPU_CHECK": "true",
    "RPWORKER_GPU_CHECK": "off",
}


def _argv(runtime: str, handler: Path) -> list[str]:
    if runtime == "rpworker":
        return [RPWORKER, str(handler)]
    return [str(sdk_python()), str(handler)]


def _workdir(base: Path, runtime: str, name: str) -> Path:
    directory = base / f"{runtime}-{name}"
    directory.mkdir(parents=True)
    shutil.copy2(HANDLERS / f"{name}.py", directory / f"{name}.py")
    return directory


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "BUCKET_"))}
    return {**env, **extra}


def run_test_mode(
    runtime: str, name: str, base: Path, job: dict[str, Any], *args: str, **env: str
) -> dict[str, Any]:
    """The result body of one test job (the SDK's is read from its DEBUG log line)."""
    directory = _workdir(base, runtime, name)
    done = subprocess.run(
        [*_argv(runtime, directory / f"{name}.py"), *args, "--test_input", json.dumps(job)],
        cwd=directory,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    if runtime == "rpworker":
        body: dict[str, Any] = json.loads(lines[-1])
        return body
    for line in lines:
        if line.startswith(SDK_RESULT):
            return dict(ast.literal_eval(line[len(SDK_RESULT) :]))
    raise AssertionError(f"no result from the SDK:\n{done.stdout}\n{done.stderr}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def run_api(runtime: str, name: str, base: Path, inputs: list[Any], **env: str) -> list[Any]:
    """``POST /runsync`` answers (``output`` or ``error``) of the local API, one per input."""
    directory = _workdir(base, runtime, name)
    port = _free_port()
    log = directory / "api.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                *_argv(runtime, directory / f"{name}.py"),
                "--rp_serve_api",
                "--rp_api_port",
                str(port),
            ],
            cwd=directory,
            env=_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"{runtime} API did not start:\n{log.read_text()}"
                    ) from None
                time.sleep(0.1)
        answers = [_post(f"http://127.0.0.1:{port}/runsync", {"input": i}) for i in inputs]
    finally:
        stop(process, signal.SIGINT)
    return [{k: v for k, v in a.items() if k in ("output", "error")} for a in answers]


@dataclass
class ProductionRun:
    """What the platform got: per job (in submission order) the result, chunks and progress."""

    results: list[dict[str, Any]]
    chunks: list[list[Any]]
    progress: list[list[Any]]
    exit_code: int | None


async def run_production(
    runtime: str,
    name: str,
    base: Path,
    inputs: list[Any],
    *args: str,
    exits: bool = False,
    until: Callable[[], bool] | None = None,
    **env: str,
) -> ProductionRun:
    """Run the handler as a platform worker on its own emulator until every job has a result.

    With ``exits`` the worker must end by itself (``refresh_worker``); else it is
    stopped. ``until`` replaces the wait for every result.
    """
    directory = _workdir(base, runtime, name)
    emulator = Emulator(long_poll_s=0.5)
    await emulator.serve()
    ids = await emulator.submit(*inputs)
    log = directory / "worker.log"
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            *_argv(runtime, directory / f"{name}.py"),
            *args,
            cwd=directory,
            env=_env({**emulator.env(), **QUIET_PRODUCTION, **env}),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        done = until or (lambda: all(i in emulator.results for i in ids))
        await emulator.wait_for(done, timeout=60)
    except TimeoutError:
        raise AssertionError(f"{runtime}: no results in time:\n{log.read_text()}") from None
    finally:
        code = await _ended(process, exits)
        await emulator.close()
    return ProductionRun(
        [emulator.results.get(i, {}) for i in ids],
        [emulator.chunks.get(i, []) for i in ids],
        [emulator.progress.get(i, []) for i in ids],
        code,
    )


async def _ended(process: asyncio.subprocess.Process, exits: bool) -> int | None:
    """The exit status of a worker that ``exits`` by itself; otherwise stop it (None)."""
    if exits:
        try:
            return await asyncio.wait_for(process.wait(), 30)
        except asyncio.TimeoutError:
            pass
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 20)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
    return None
