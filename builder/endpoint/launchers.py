"""Starting one worker: a container of the image, or a local ``rpworker`` process.

Either way the worker is a child process of ``rpbuild up`` (``docker run`` in
the foreground for containers), so its output is read as it comes and its
exit is seen at once. Containers run as the platform runs them: the image's
own entrypoint, the platform's variables, on the host network (they reach the
endpoint on 127.0.0.1, never through Docker's bridge).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from builder import engine
from builder.child_process import end_with_parent

LineSink = Callable[[str, str], None]
"""``sink(worker_id, line)``: one line of a worker's output."""

TAIL_LINES = 40
STOP_GRACE_S = 10
OWNER_LABEL = "io.rpbuild.up.owner"
"""On every worker container: ``HOST/PID`` of the ``rpbuild up`` that started it."""
_LAUNCH = "import sys; from rpworker.launcher import main; sys.exit(main())"


class WorkerProcess:
    """A running worker: its output tail, and how to stop or kill it."""

    def __init__(
        self,
        worker_id: str,
        process: asyncio.subprocess.Process,
        sink: LineSink,
        container: str | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.process = process
        self.container = container
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._reader = asyncio.ensure_future(self._read(sink))

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def _read(self, sink: LineSink) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            sink(self.worker_id, line)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM (``docker stop``), as the platform scales a worker in; then kill."""
        if self.alive:
            if self.container is not None:
                await _docker("stop", "-t", str(round(grace_s)), self.container)
            else:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace_s + 5)
        except asyncio.TimeoutError:
            await self.kill()
        return await self.wait()

    async def kill(self) -> None:
        """Gone at once, as when a machine fails (``docker rm -f`` for a container)."""
        if self.container is not None:
            await _docker("rm", "--force", self.container)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def wait(self) -> int:
        code = await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        return code


async def _docker(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        engine.client(), *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    await process.wait()


async def _spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches rpbuild, which stops workers in order
        preexec_fn=end_with_parent,
    )


@dataclass(frozen=True)
class ProcessLauncher:
    """Local ``rpworker HANDLER`` processes in the handler's directory (no Docker)."""

    directory: Path
    handler: str
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"rpworker {self.handler} in {self.directory}"

    async def start(self, worker_id: str, env: Mapping[str, str], sink: LineSink) -> WorkerProcess:
        argv = [sys.executable, "-c", _LAUNCH, self.handler]
        variables = {**os.environ, **env, **self.extra_env}
        process = await _spawn(argv, variables, cwd=self.directory)
        return WorkerProcess(worker_id, process, sink)


@dataclass(frozen=True)
class ContainerLauncher:
    """``docker run IMAGE`` with the image's entrypoint and the platform's variables."""

    image: str
    name_prefix: str
    gpus: str | None = None
    """``--gpus`` value (``all``), or None for no GPU."""
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        gpus = f" --gpus {self.gpus}" if self.gpus else ""
        return f"docker run --network host{gpus} {self.image}"

    def argv(self, name: str, env: Mapping[str, str]) -> list[str]:
        variables = {**env, **self.extra_env}
        flags = [arg for key, value in variables.items() for arg in ("-e", f"{key}={value}")]
        gpus = ["--gpus", self.gpus] if self.gpus else []
        run = [engine.client(), "run", "--rm", "--name", name, "--network", "host"]
        return [*run, "--label", f"{OWNER_LABEL}={_owner()}", *gpus, *flags, self.image]

    async def start(self, worker_id: str, env: Mapping[str, str], sink: LineSink) -> WorkerProcess:
        name = f"{self.name_prefix}-{os.getpid()}-{worker_id}"
        process = await _spawn(self.argv(name, env), os.environ)
        return WorkerProcess(worker_id, process, sink, container=name)


Launcher = ProcessLauncher | ContainerLauncher


def _owner(pid: int | None = None) -> str:
    return f"{socket.gethostname()}/{os.getpid() if pid is None else pid}"


def _gone(owner: str) -> bool:
    """Whether the ``rpbuild up`` named by an owner label on this host has ended."""
    host, _, pid = owner.rpartition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's, or not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_orphans() -> list[str]:
    """Remove the worker containers of an ``rpbuild up`` on this host that was killed
    (``kill -9`` gives it no chance to stop them): they would hold GPUs and poll an
    endpoint that is gone. Returns the names removed."""
    owners = engine.labelled_containers(OWNER_LABEL)
    orphans = [name for name, owner in owners.items() if _gone(owner)]
    engine.remove_containers(orphans)
    return orphans
