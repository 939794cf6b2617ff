"""What every command shows: live on a terminal, plain lines in logs and CI, JSON for machines.

Commands report through one :class:`Output` so the choice of display is made
once. Results and streamed chunks go to stdout; progress and messages go to
stderr, so ``--json`` output on stdout stays a single parseable document and
a person still sees what happens.

- ``live``: a terminal that is not CI; per-item progress (layers of a push,
  steps of a build) is redrawn in place below the scrolling messages.
- ``plain``: no terminal, or ``CI`` set; one line per change of state, never
  a line per byte count, so logs stay short.
- ``json``: ``--json``; messages as plain lines on stderr, the result as JSON
  on stdout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, TextIO


class Mode(Enum):
    LIVE = "live"
    PLAIN = "plain"
    JSON = "json"


class Verbosity(IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


def _in_ci(environ: dict[str, str]) -> bool:
    return environ.get("CI", "").lower() not in ("", "0", "false", "no")


def detect_mode(
    stream: TextIO, *, json_output: bool = False, environ: dict[str, str] | None = None
) -> Mode:
    if json_output:
        return Mode.JSON
    env = dict(os.environ) if environ is None else environ
    if stream.isatty() and not _in_ci(env) and env.get("TERM") != "dumb":
        return Mode.LIVE
    return Mode.PLAIN


@dataclass
class _Board:
    """Lines redrawn in place at the bottom of a terminal (one per tracked item)."""

    stream: TextIO
    lines: dict[str, str] = field(default_factory=dict)
    drawn: int = 0

    def erase(self) -> None:
        if self.drawn:
            # Up to the board's first line, then clear to the end of the screen.
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def draw(self) -> None:
        # A line wider than the terminal wraps, and erase() would miss a row.
        width = max(shutil.get_terminal_size().columns - 1, 20)
        for text in self.lines.values():
            self.stream.write(f"{text[:width]}\n")
        self.drawn = len(self.lines)
        self.stream.flush()


@dataclass
class Output:
    mode: Mode = Mode.PLAIN
    verbosity: Verbosity = Verbosity.NORMAL
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _board: _Board | None = None
    _states: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode is Mode.LIVE:
            self._board = _Board(self.err)

    def _message(self, text: str) -> None:
        if self._board is not None:
            self._board.erase()
        self.err.write(f"{text}\n")
        if self._board is not None:
            self._board.draw()
        self.err.flush()

    def info(self, text: str) -> None:
        """A message for people; hidden by --quiet."""
        if self.verbosity >= Verbosity.NORMAL:
            self._message(text)

    def detail(self, text: str) -> None:
        """Only with --verbose: raw tool output, commands run, timings."""
        if self.verbosity >= Verbosity.VERBOSE:
            self._message(text)

    def warn(self, text: str) -> None:
        """Shown even with --quiet."""
        self._message(f"warning: {text}")

    def progress(
        self, key: str, state: str, current: int | None = None, total: int | None = None
    ) -> None:
        """The state of one tracked item (a build step, a pushed layer).

        Live mode redraws the item's line with a byte count; other modes print
        a line only when ``state`` changes.
        """
        if self.verbosity < Verbosity.NORMAL:
            return
        if self._board is not None:
            self._board.erase()
            self._board.lines[key] = f"{key}: {state}{_fraction(current, total)}"
            self._board.draw()
            return
        if self._states.get(key) != state:
            self._states[key] = state
            self._message(f"{key}: {state}")

    def done(self, key: str, state: str) -> None:
        """A tracked item finished: it leaves the live board as a normal message (in
        plain lines, unless its last progress line already said ``state``)."""
        if self._board is not None:
            self._board.lines.pop(key, None)
        if self._states.pop(key, None) != state:
            self.info(f"{key}: {state}")

    @property
    def json(self) -> bool:
        return self.mode is Mode.JSON

    def line(self, text: str) -> None:
        """One line of the command's own output stream (a program's output passed on)."""
        self._result_line(text)

    def pushed(self, line: Mapping[str, Any]) -> None:
        """One line of the engine's push stream: per-layer progress, the rest as details.

        Not shown with --json, where the result alone is the output."""
        if self.mode is not Mode.JSON:
            show_push_line(self, line)

    def chunk(self, value: Any) -> None:
        """One streamed chunk of a job's output, shown as it arrives."""
        if self.mode is Mode.JSON:
            return
        text = value if isinstance(value, str) else json.dumps(value)
        self._result_line(text)

    def result(self, data: Any, text: str | None = None) -> None:
        """A command's result: the JSON document with --json, else ``text`` (or pretty JSON).

        A JSON object says ``"ok": true``, as a failure's says false: CI reads one key."""
        if self.mode is Mode.JSON:
            if isinstance(data, dict) and "ok" not in data:
                data = {"ok": True, **data}
            self._result_line(json.dumps(data))
            return
        self._result_line(text if text is not None else json.dumps(data, indent=2))

    def _result_line(self, text: str) -> None:
        if self._board is not None:
            self._board.erase()
        self.out.write(f"{text}\n")
        self.out.flush()
        if self._board is not None:
            self._board.draw()


_BUILD_STEP = re.compile(r"^#(\d+) (\[[^\]]*\d+/\d+\] .*|exporting to image)$")
_BUILD_END = re.compile(r"^#(\d+) (DONE [\d.]+s|CACHED|ERROR: .*)$")
_STATES = {"DONE": "done", "CACHED": "cached", "ERROR:": "failed:"}
"""BuildKit's end-of-step keywords; only these are reworded, never the step's own message."""
_PUSH_FINISHED = ("Pushed", "Layer already exists", "Mounted from")


class BuildSteps:
    """Shows BuildKit's plain progress (``#5 [2/7] RUN ...``) as one line per step.

    Steps are tracked until their DONE, CACHED or ERROR line; a step's own
    output and BuildKit's internal steps are hidden, and any other line
    (rpbuild's own messages, a classic builder's output) is shown. With
    ``--verbose`` or ``--json`` the log is passed through whole instead: the
    complete build log is what a CI job is debugged from.
    """

    def __init__(self, out: Output) -> None:
        self.out = out
        self.titles: dict[str, str] = {}
        self.whole = out.mode is Mode.JSON or out.verbosity >= Verbosity.VERBOSE

    def __call__(self, line: str) -> None:
        if self.whole:
            self.out.info(line)
            return
        if not line.strip():
            return
        if step := _BUILD_STEP.match(line):
            self.titles[step.group(1)] = step.group(2)
            self.out.progress(step.group(2), "running")
        elif (end := _BUILD_END.match(line)) and end.group(1) in self.titles:
            keyword, _, rest = end.group(2).partition(" ")
            state = " ".join(filter(None, (_STATES[keyword], rest)))
            self.out.done(self.titles.pop(end.group(1)), state)
        elif not line.startswith("#"):
            self.out.info(line)


def show_push_line(out: Output, line: Mapping[str, Any]) -> None:
    """One line of the engine's push stream: per-layer progress, the rest as details."""
    status = str(line.get("status", ""))
    layer = line.get("id")
    if not layer or not status:
        if status:
            out.detail(status)
        return
    key = f"layer {layer}"
    if status.startswith(_PUSH_FINISHED):
        out.done(key, status[0].lower() + status[1:])
        return
    detail = line.get("progressDetail") or {}
    out.progress(key, status.lower(), detail.get("current"), detail.get("total"))


def _fraction(current: int | None, total: int | None) -> str:
    if current is None:
        return ""
    if total:
        return f" {_size(current)}/{_size(total)} ({100 * current // total}%)"
    return f" {_size(current)}"


def _size(count: int) -> str:
    value, unit = float(count), "B"
    for larger in ("kB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{count}B" if unit == "B" else f"{value:.1f}{unit}"
