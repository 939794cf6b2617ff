"""Run a worker process and restart it whenever the project's files change.

Changes are found by polling modification times: no file-watching dependency,
and it behaves the same on every filesystem (bind mounts and network shares
included). A crashed worker is not restarted in a loop; it waits for the next
change, which is usually the fix.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from builder.output import Output

WATCHED_SUFFIXES = frozenset({".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini"})
"""Code and the small data files a handler may read at import."""

IGNORED_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages"})
"""Besides hidden directories (.git, .venv, caches), which are never watched."""

Snapshot = dict[Path, tuple[int, int]]


def _watched(directory: Path) -> Iterator[Path]:
    for path in directory.iterdir():
        if path.name.startswith("."):
            continue
        if path.is_dir():
            if path.name not in IGNORED_DIRS:
                yield from _watched(path)
        elif path.suffix in WATCHED_SUFFIXES:
            yield path


def snapshot(directory: Path) -> Snapshot:
    """Modification time and size of every watched file below ``directory``."""
    files: Snapshot = {}
    for path in _watched(directory):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while walking
            continue
        files[path] = (stat.st_mtime_ns, stat.st_size)
    return files


def changes(before: Snapshot, after: Snapshot, root: Path) -> list[str]:
    """Human descriptions, e.g. ``handler.py changed``, sorted by path."""
    described = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            what = "removed"
        elif path not in before:
            what = "added"
        elif before[path] != after[path]:
            what = "changed"
        else:
            continue
        described.append(f"{path.relative_to(root)} {what}")
    return described


def answers(address: tuple[str, int]) -> bool:
    """Whether a server accepts connections at ``address``."""
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


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
    ready_timeout: float = 60.0
    stop_timeout: float = 5.0

    def run(self) -> int:
        """Until Ctrl-C or SIGTERM; the exit status for the command line."""
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        process: subprocess.Popen[bytes] | None = None
        try:
            files = snapshot(self.directory)
            process = self._start()
            while True:
                time.sleep(self.interval)
                current = snapshot(self.directory)
                if current != files:
                    current = self._settled(current)
                described = changes(files, current, self.directory)
                if described:
                    files = current
                    self.out.info(f"{', '.join(described)}: restarting the worker")
                    self._stop(process)
                    process = self._start()
                elif process.returncode is None and process.poll() is not None:
                    self._report_exit(process)
        except (KeyboardInterrupt, _Stop):
            self.out.info("stopping the worker")
            if process is not None:
                self._stop(process)
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _settled(self, current: Snapshot) -> Snapshot:
        """A snapshot taken once saving has finished (editors write in several steps)."""
        while True:
            time.sleep(self.interval / 3)
            again = snapshot(self.directory)
            if again == current:
                return current
            current = again

    def _start(self) -> subprocess.Popen[bytes]:
        self.out.detail(f"running {' '.join(self.command)} in {self.directory}")
        process = subprocess.Popen(self.command, cwd=self.directory)
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
                self.out.warn(f"the worker did not stop in {self.stop_timeout:.0f} s; killing it")
                process.kill()
                process.wait()
