"""`rpbuild serve`: the handler over real HTTP, reloaded after edits, stopped by Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from watchfiles import Change

from builder.commands.cmd_init import init
from builder.dev import reload

RPBUILD = str(Path(sys.executable).with_name("rpbuild"))
READY = re.compile(r"ready: (http://\S+) \(worker pid (\d+)\)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """``rpbuild serve`` as a subprocess without a terminal; its lines read as they come."""

    def __init__(self, directory: Path, *args: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [RPBUILD, "serve", str(directory), "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "CI": ""},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(
            f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.seen)
        )

    def runsync(self, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/runsync",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return dict(json.load(answer))

    def stop(self) -> int:
        """Ctrl-C; the exit status, with every remaining line read into ``seen``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        status = self.process.wait(timeout=30)
        self.reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return status


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = CliRunner().invoke(init, [str(tmp_path / "worker")])
    assert result.exit_code == 0, result.output
    return tmp_path / "worker"


@pytest.fixture
def serve(project: Path) -> Iterator[Serve]:
    running = Serve(project)
    yield running
    running.stop()  # Ctrl-C, so the worker is stopped too (a kill would orphan it)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_runs_reloads_and_stops(serve: Serve, project: Path) -> None:
    first = serve.wait_for(READY.pattern)
    assert first.group(1) == f"http://127.0.0.1:{serve.port}"
    answer = serve.runsync({"input": {"prompt": "a b"}})
    assert answer["status"] == "COMPLETED"
    assert answer["output"] == [{"index": 0, "token": "a"}, {"index": 1, "token": "b"}]

    handler = project / "handler.py"
    handler.write_text(handler.read_text().replace('"token": word', '"token": word.upper()'))
    serve.wait_for(r"^handler\.py changed: restarting the worker$")
    second = serve.wait_for(READY.pattern)
    assert second.group(2) != first.group(2)
    assert not alive(int(first.group(2)))
    answer = serve.runsync({"input": {"prompt": "a b"}})
    assert answer["output"] == [{"index": 0, "token": "A"}, {"index": 1, "token": "B"}]

    assert serve.stop() == 0
    assert not alive(int(second.group(2)))
    assert "stopping the worker" in serve.seen
    assert not any("\x1b" in line for line in serve.seen)


def test_a_broken_handler_waits_for_the_fix(serve: Serve, project: Path) -> None:
    serve.wait_for(READY.pattern)
    handler = project / "handler.py"
    good = handler.read_text()
    handler.write_text(good + "\ndef broken(:\n")
    serve.wait_for(r"handler\.py changed")
    serve.wait_for(r"^warning: the worker exited with status \d+; it restarts when a file changes")
    handler.write_text(good.replace('"token": word', '"token": "fixed"'))
    serve.wait_for(READY.pattern)
    assert serve.runsync({"input": {"prompt": "x"}})["output"] == [{"index": 0, "token": "fixed"}]


@contextlib.contextmanager
def _serving(project: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`rpbuild serve` on a free port, once ready, with its worker's pid; whatever the
    test does, neither is left running (the worker would be the orphan under test)."""
    process = subprocess.Popen(
        [RPBUILD, "serve", str(project), "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": ""},
    )
    assert process.stdout is not None
    worker = 0
    try:
        ready = next(m for line in process.stdout if (m := READY.search(line)))
        worker = int(ready.group(2))
        yield process, worker
    finally:
        process.kill()
        process.wait()
        if worker and alive(worker):
            os.kill(worker, signal.SIGKILL)


def _until_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


@pytest.mark.parametrize("signalled", [False, True], ids=["reader_exits", "then_sigterm"])
def test_the_worker_stops_when_the_output_pipe_closes(project: Path, signalled: bool) -> None:
    """`rpbuild serve | head -3`: once head has gone, the worker must not hold the port."""
    with _serving(project) as (process, worker):
        assert process.stdout is not None
        process.stdout.close()
        if signalled:
            process.send_signal(signal.SIGTERM)  # as `timeout 8 rpbuild serve | head` does
        assert process.wait(timeout=30) == 0
        assert _until_gone(worker, 10)


def test_a_killed_serve_takes_its_worker_with_it(project: Path) -> None:
    """`kill -9` of rpbuild serve: the worker gets SIGTERM from the kernel, frees the port."""
    with _serving(project) as (process, worker):
        process.kill()
        process.wait()
        assert _until_gone(worker, 60), "the worker outlived its rpbuild serve"


def test_serve_without_a_handler_names_the_fix(tmp_path: Path) -> None:
    result = subprocess.run(
        [RPBUILD, "serve", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "handler.py does not exist" in result.stderr and "--handler" in result.stderr


def test_a_port_in_use_is_refused(project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [RPBUILD, "serve", str(project), "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"something already listens on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_changes_are_described(tmp_path: Path) -> None:
    batch = {
        (Change.modified, str(tmp_path / "handler.py")),
        (Change.deleted, str(tmp_path / "old.json")),
        (Change.added, str(tmp_path / "pkg" / "util.py")),
        (Change.added, str(tmp_path / ".venv" / "x.py")),
        (Change.modified, str(tmp_path / "__pycache__" / "h.py")),
        (Change.modified, str(tmp_path / "model.bin")),
        (Change.modified, str(tmp_path / ".handler.py.swp")),
    }
    assert reload.describe(batch, tmp_path) == [
        "handler.py changed",
        "old.json removed",
        "pkg/util.py added",
    ]
    assert reload.describe({(Change.modified, "/elsewhere/x.py")}, tmp_path) == []
