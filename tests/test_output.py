"""Output modes: live on a terminal, plain lines without one or in CI, JSON for machines."""

from __future__ import annotations

import io
import json
import os
import pty

import pytest

from builder import output
from builder.output import Mode, Output, Verbosity


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def make(
    mode: Mode, verbosity: Verbosity = Verbosity.NORMAL
) -> tuple[Output, io.StringIO, io.StringIO]:
    out, err = (Terminal(), Terminal()) if mode is Mode.LIVE else (io.StringIO(), io.StringIO())
    return Output(mode=mode, verbosity=verbosity, out=out, err=err), out, err


def push_layers(shown: Output) -> None:
    for current in (0, 100, 200, 300):
        shown.progress("layer 1a2b", "pushing", current, 300)
        shown.progress("layer 3c4d", "waiting")
    shown.info("base image found")
    shown.done("layer 1a2b", "pushed")


def test_detect_mode() -> None:
    assert output.detect_mode(Terminal(), environ={"TERM": "xterm"}) is Mode.LIVE
    assert output.detect_mode(io.StringIO(), environ={}) is Mode.PLAIN
    assert output.detect_mode(Terminal(), environ={"CI": "true"}) is Mode.PLAIN
    assert output.detect_mode(Terminal(), environ={"CI": "false"}) is Mode.LIVE
    assert output.detect_mode(Terminal(), environ={"TERM": "dumb"}) is Mode.PLAIN
    assert output.detect_mode(Terminal(), json_output=True, environ={}) is Mode.JSON


def test_a_real_terminal_is_live_and_a_pipe_is_plain() -> None:
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert output.detect_mode(terminal, environ={"TERM": "xterm"}) is Mode.LIVE
    os.close(leader)
    reader, writer = os.pipe()
    with os.fdopen(writer, "w") as pipe:
        assert output.detect_mode(pipe, environ={"TERM": "xterm"}) is Mode.PLAIN
    os.close(reader)


def test_plain_mode_prints_a_line_per_change_of_state_only() -> None:
    shown, out, err = make(Mode.PLAIN)
    push_layers(shown)
    assert err.getvalue().splitlines() == [
        "layer 1a2b: pushing",
        "layer 3c4d: waiting",
        "base image found",
        "layer 1a2b: pushed",
    ]
    assert "\x1b" not in err.getvalue()
    assert out.getvalue() == ""


def test_plain_mode_shows_a_final_state_once() -> None:
    shown, _, err = make(Mode.PLAIN)
    for state in ("in queue", "in progress", "completed"):
        shown.progress("job", state)
    shown.done("job", "completed")
    shown.progress("job", "in queue")
    shown.done("job", "failed")
    assert err.getvalue().splitlines() == [
        "job: in queue",
        "job: in progress",
        "job: completed",
        "job: in queue",
        "job: failed",
    ]


def test_live_mode_redraws_progress_in_place() -> None:
    shown, _, err = make(Mode.LIVE)
    push_layers(shown)
    text = err.getvalue()
    assert "\x1b[2F\x1b[J" in text  # two board lines erased before a redraw
    assert "layer 1a2b: pushing 200B/300B (66%)" in text
    # The finished layer left the board: the last drawing shows only the other one.
    assert text.endswith("layer 1a2b: pushed\nlayer 3c4d: waiting\n")


def test_live_progress_formats_sizes() -> None:
    shown, _, err = make(Mode.LIVE)
    shown.progress("layer", "pushing", 1_500_000, 2_000_000_000)
    assert "layer: pushing 1.5MB/2.0GB (0%)" in err.getvalue()


def test_json_mode_keeps_stdout_one_document() -> None:
    shown, out, err = make(Mode.JSON)
    push_layers(shown)
    shown.chunk({"token": "a"})
    shown.result({"status": "COMPLETED"}, "completed")
    assert json.loads(out.getvalue()) == {"ok": True, "status": "COMPLETED"}
    assert "layer 1a2b: pushed" in err.getvalue()


def test_chunks_and_results_in_human_modes() -> None:
    shown, out, _ = make(Mode.PLAIN)
    shown.chunk("text chunk")
    shown.chunk({"token": "a"})
    shown.result({"a": 1}, "done: 1")
    shown.result({"a": 1})
    assert out.getvalue() == 'text chunk\n{"token": "a"}\ndone: 1\n{\n  "a": 1\n}\n'


def test_quiet_shows_only_warnings_and_results() -> None:
    shown, out, err = make(Mode.PLAIN, Verbosity.QUIET)
    push_layers(shown)
    shown.detail("docker buildx build ...")
    shown.warn("base image moved")
    shown.result({}, "ok")
    assert err.getvalue() == "warning: base image moved\n"
    assert out.getvalue() == "ok\n"


def test_verbose_shows_details() -> None:
    shown, _, err = make(Mode.PLAIN)
    shown.detail("hidden")
    verbose, _, verbose_err = make(Mode.PLAIN, Verbosity.VERBOSE)
    verbose.detail("docker buildx build ...")
    assert err.getvalue() == "" and verbose_err.getvalue() == "docker buildx build ...\n"


BUILDKIT_LINES = """\
rpbuild: building the app image w:1 (buildx)
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s
#4 [stage-0 1/4] FROM docker.io/local/debian:bookworm
#4 CACHED
#5 [2/3] RUN echo hello && sleep 1
#5 0.551 hello
#5 DONE 1.6s
#6 [3/3] RUN PIP_CERT=x false
#6 ERROR: process "/bin/sh -c PIP_CERT=x false" did not complete successfully: exit code: 1
#7 exporting to image
#7 DONE 0.1s
""".splitlines()


def test_build_steps_are_one_line_per_step() -> None:
    shown, _, err = make(Mode.PLAIN)
    sink = output.BuildSteps(shown)
    for line in BUILDKIT_LINES:
        sink(line)
    assert err.getvalue().splitlines() == [
        "rpbuild: building the app image w:1 (buildx)",
        "[stage-0 1/4] FROM docker.io/local/debian:bookworm: running",
        "[stage-0 1/4] FROM docker.io/local/debian:bookworm: cached",
        "[2/3] RUN echo hello && sleep 1: running",
        "[2/3] RUN echo hello && sleep 1: done 1.6s",
        "[3/3] RUN PIP_CERT=x false: running",
        '[3/3] RUN PIP_CERT=x false: failed: process "/bin/sh -c PIP_CERT=x false" did not '
        "complete successfully: exit code: 1",
        "exporting to image: running",
        "exporting to image: done 0.1s",
    ]


@pytest.mark.parametrize(
    ("mode", "verbosity"), [(Mode.PLAIN, Verbosity.VERBOSE), (Mode.JSON, Verbosity.NORMAL)]
)
def test_the_whole_build_log_with_verbose_or_json(mode: Mode, verbosity: Verbosity) -> None:
    shown, out, err = make(mode, verbosity)
    sink = output.BuildSteps(shown)
    for line in BUILDKIT_LINES:
        sink(line)
    assert err.getvalue().splitlines() == BUILDKIT_LINES
    assert out.getvalue() == ""


PUSH_LINES = [
    {"status": "The push refers to repository [127.0.0.1:5000/w]"},
    {"status": "Preparing", "id": "aa11"},
    {"status": "Preparing", "id": "bb22"},
    {"status": "Layer already exists", "id": "bb22"},
    {"status": "Pushing", "id": "aa11", "progressDetail": {"current": 512, "total": 2048}},
    {"status": "Pushing", "id": "aa11", "progressDetail": {"current": 2048, "total": 2048}},
    {"status": "Pushed", "id": "aa11"},
    {"status": "1: digest: sha256:0f size: 735"},
    {"aux": {"Tag": "1", "Digest": "sha256:0f", "Size": 735}},
]


def test_push_progress_per_layer_in_plain_lines() -> None:
    shown, _, err = make(Mode.PLAIN)
    for line in PUSH_LINES:
        output.show_push_line(shown, line)
    assert err.getvalue().splitlines() == [
        "layer aa11: preparing",
        "layer bb22: preparing",
        "layer bb22: layer already exists",
        "layer aa11: pushing",
        "layer aa11: pushed",
    ]


def test_push_progress_live_shows_bytes() -> None:
    shown, _, err = make(Mode.LIVE)
    for line in PUSH_LINES:
        output.show_push_line(shown, line)
    text = err.getvalue()
    assert "layer aa11: pushing 512B/2.0kB (25%)" in text
    assert text.endswith("layer aa11: pushed\n")


def test_push_display_is_for_people_only() -> None:
    for mode, shown_lines in ((Mode.JSON, False), (Mode.PLAIN, True)):
        shown, out, err = make(mode)
        for line in PUSH_LINES:
            shown.pushed(line)
        assert out.getvalue() == ""
        assert ("layer aa11: pushed" in err.getvalue().splitlines()) is shown_lines


def test_live_lines_are_cut_to_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    shown, _, err = make(Mode.LIVE)
    shown.progress("[2/9] RUN apt-get install -y ffmpeg libgl1 libglib2.0-0", "running")
    assert err.getvalue() == "[2/9] RUN apt-get install -y ffmpeg lib\n"
