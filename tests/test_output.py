"""Output modes: live on a terminal, plain lines without one or in CI, JSON for machines."""

from __future__ import annotations

import io
import json

import click
from click.testing import CliRunner

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
    assert json.loads(out.getvalue()) == {"status": "COMPLETED"}
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


@click.group()
@output.verbosity_options
def group() -> None:
    pass


@group.command()
@output.json_option
def show(json_output: bool) -> None:
    shown = output.for_command(json_output)
    shown.info("info")
    shown.detail("detail")
    shown.result({"mode": shown.mode.value, "verbosity": shown.verbosity.name})


def test_group_flags_reach_the_command() -> None:
    def run(*args: str) -> dict[str, str]:
        result = CliRunner().invoke(group, [*args, "show", "--json"])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    assert run() == {"mode": "json", "verbosity": "NORMAL"}
    assert run("--quiet") == {"mode": "json", "verbosity": "QUIET"}
    assert run("-v") == {"mode": "json", "verbosity": "VERBOSE"}
    plain = CliRunner().invoke(group, ["-v", "show"])
    assert plain.stderr == "info\ndetail\n"
    assert json.loads(plain.stdout) == {"mode": "plain", "verbosity": "VERBOSE"}
