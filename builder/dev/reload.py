"""Run a worker process and restart it whenever the project's files change.

Changes come from the kernel (inotify, through watchfiles; polling only where the
filesystem gives no events), grouped until an editor has finished saving. A
crashed worker is not restarted in a loop; it waits for the next change, which is
usually the fix. This is the CLI's side only: images never carry watchfiles.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import watchfiles
from watchfiles import Change

from builder.child_process import end_with_parent
from builder.output import Output

WATCHED_SUFFIXES = frozenset({".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini"})
"""Code and the small data files a handler may read at import."""

IGNORED_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages"})
"""Besides hidden directories (.git, .venv, caches), which are never watched."""

_DONE = {Change.added: "added", Change.modified: "changed", Change.deleted: "removed"}


def watched(path: Path, root: Path) -> bool:
    """Whether a change to ``path`` (below ``root``) restarts the worker."""
    if root not in path.parents:
        return False
    parts = path.relative_to(root).parts
    if any(part.startswith(".") or part in IGNORED_DIRS for part in parts[:-1]):
        return False
    return not parts[-1].startswith(".") and path.suffix in WATCHED_SUFFIXES


def describe(batch: Iterable[tuple[Change, str]], root: Path) -> list[str]:
    """Human descriptions of the watched changes, e.g. ``handler.py changed``, by path."""
    latest = {Path(path): change for change, path in batch}
    return [
        f"{path.relative_to(root).as_posix()} {_DONE[latest[path]]}"
        for path in sorted(latest)
        if watched(path, root)
    ]


def answers(address: tuple[str, int]) -> bool:
    """Whether a server accepts connections at ``address``."""
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def reader_gone(fd: int) -> bool:
    """Whether ``fd`` is a pipe whose reader has exited (``rpbuild serve | head -3``)."""
    poller = select.poll()
    poller.register(fd, 0)
    return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))


def _silence() -> None:
    """Send what is still to be written to /dev/null: nobody reads it, and at exit
    Python would otherwise complain that it cannot flush."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            continue
    os.close(devnull)


class _Stop(Exception):
    """SIGTERM to the supervisor: leave like Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@dataclass
class Supervisor:
    """Keeps ``command`` running in ``directory``, restarting it on changes."""

    command: Sequence[str]
    directory: Path
    out: Output
    ready_address: tuple[str, int] | None = None
    interval: float = 0.3
    """How often, without changes, to look whether the worker has exited."""
    ready_timeout: float = 60.0
    stop_timeout: float = 5.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def run(self) -> int:
        """Until Ctrl-C, SIGTERM or the end of whoever reads the output; the exit status.

        However it ends, the worker is stopped: left running, it would hold the port.
        """
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        root = self.directory.resolve()
        try:
            batches = watchfiles.watch(
                root,
                watch_filter=lambda _change, path: watched(Path(path), root),
                rust_timeout=int(self.interval * 1000),
                yield_on_timeout=True,
            )
            next(batches)  # watching from here: no edit made while the worker starts is lost
            process = self._start()
            for batch in batches:
                if reader_gone(1):
                    _silence()
                    break
                described = describe(batch, root)
                if described:
                    self.out.info(f"{', '.join(described)}: restarting the worker")
                    self._stop(process)
                    process = self._start()
                elif process.returncode is None and process.poll() is not None:
                    self._report_exit(process)
        except (KeyboardInterrupt, _Stop):
            self._tell("stopping the worker")
        except BrokenPipeError:
            _silence()
        finally:
            if self._process is not None:
                self._stop(self._process)
            signal.signal(signal.SIGTERM, previous)
        return 0

    def _tell(self, text: str) -> None:
        """``text`` for the user, if anyone still reads the output."""
        try:
            self.out.info(text)
        except BrokenPipeError:
            _silence()

    def _start(self) -> subprocess.Popen[bytes]:
        self.out.detail(f"running {' '.join(self.command)} in {self.directory}")
        process = self._process = subprocess.Popen(
            self.command, cwd=self.directory, preexec_fn=end_with_parent
        )
        if self.ready_address is not None and self._wait_ready(process, self.ready_address):
            host, port = self.ready_address
            self.out.info(f"ready: http://{host}:{port} (worker pid {process.pid})")
        if process.poll() is not None:
            self._report_exit(process)
        return process

    def _report_exit(self, process: subprocess.Popen[bytes]) -> None:
        self.out.warn(
            f"the worker exited with status {process.returncode}; it restarts when a file changes"
        )

    def _wait_ready(self, process: subprocess.Popen[bytes], address: tuple[str, int]) -> bool:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if answers(address):
                return True
            time.sleep(0.1)
        return False

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                self.out.warn(f"the worker did not stop in {self.stop_timeout:.0f} s; killed it")
