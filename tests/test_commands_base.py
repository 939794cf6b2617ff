"""The CLI seam: one Output per command in click's context, and one mapping of library
errors to exit codes and text; click stays inside builder/commands/."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import click
from click.testing import CliRunner

from builder.commands.base import Command, Group, json_option, pass_output, verbosity_options
from builder.errors import InputError, RpbuildError, Source
from builder.output import Output

BUILDER = Path(__file__).resolve().parent.parent / "builder"


@click.group(cls=Group)
@verbosity_options
def group() -> None:
    pass


@group.command()
@json_option
@pass_output
def show(shown: Output) -> None:
    shown.info("info")
    shown.detail("detail")
    shown.result({"mode": shown.mode.value, "verbosity": shown.verbosity.name})


@group.command()
@click.argument("kind")
@json_option
@pass_output
def fail(_shown: Output, kind: str) -> None:
    errors = {
        "flag": InputError("3.1: no such Python", Source("--python")),
        "file": InputError("3.1: no such Python", Source("python", "w/rpbuild.yaml")),
        "call": InputError("name at least one image"),
        "work": RpbuildError("the build failed"),
    }
    raise errors[kind]


def test_group_flags_reach_the_command() -> None:
    def run(*args: str) -> dict[str, str]:
        result = CliRunner().invoke(group, [*args, "show", "--json"])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    assert run() == {"ok": True, "mode": "json", "verbosity": "NORMAL"}
    assert run("--quiet") == {"ok": True, "mode": "json", "verbosity": "QUIET"}
    assert run("-v") == {"ok": True, "mode": "json", "verbosity": "VERBOSE"}
    plain = CliRunner().invoke(group, ["-v", "show"])
    assert plain.stderr == "info\ndetail\n"
    assert json.loads(plain.stdout) == {"mode": "plain", "verbosity": "VERBOSE"}


def test_a_flag_error_names_the_flag_with_the_usage_line() -> None:
    result = CliRunner().invoke(group, ["fail", "flag"])
    assert result.exit_code == 2
    assert "Invalid value for '--python': 3.1: no such Python" in result.stderr
    assert "Usage:" in result.stderr


def test_a_file_error_names_the_file_key_without_a_usage_line() -> None:
    result = CliRunner().invoke(group, ["fail", "file"])
    assert result.exit_code == 2
    assert result.stderr == "Error: w/rpbuild.yaml: python: 3.1: no such Python\n"


def test_a_call_error_is_a_usage_error_and_a_failure_exits_1() -> None:
    call = CliRunner().invoke(group, ["fail", "call"])
    assert call.exit_code == 2 and "Usage:" in call.stderr
    work = CliRunner().invoke(group, ["fail", "work"])
    assert work.exit_code == 1 and work.stderr == "Error: the build failed\n"


def test_with_json_a_failure_is_also_a_json_document() -> None:
    result = CliRunner().invoke(group, ["fail", "work", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"ok": False, "error": "the build failed"}
    flag = CliRunner().invoke(group, ["fail", "file", "--json"])
    assert json.loads(flag.stdout) == {
        "ok": False,
        "error": "w/rpbuild.yaml: python: 3.1: no such Python",
        "source": "w/rpbuild.yaml: python",
    }


@group.command()
@click.option("--flavor", type=click.Choice(["base", "runtime"]))
@click.argument("job", type=click.Path(exists=True), required=False)
@json_option
def pick(flavor: str | None, job: str | None) -> None:
    raise click.UsageError("name a flavor")


def test_with_json_a_click_usage_error_is_also_a_json_document(tmp_path: Path) -> None:
    for args, source in (
        (["--flavor", "foo"], "--flavor"),
        (["--flavor", "base", str(tmp_path / "nope")], "JOB"),
        (["--flavor", "base"], None),
        (["--flavr", "base"], "--flavr"),
    ):
        result = CliRunner().invoke(group, ["pick", *args, "--json"])
        assert result.exit_code == 2, result.output
        found = json.loads(result.stdout)
        assert found["ok"] is False
        assert found.get("source") == source
        assert found["error"] in result.stderr
    plain = CliRunner().invoke(group, ["pick", "--flavor", "foo"])
    assert plain.exit_code == 2 and plain.stdout == ""
    after = CliRunner().invoke(group, ["pick", "--", "--json"])
    assert after.exit_code == 2 and after.stdout == "", "--json after -- is an argument"


@click.command(cls=Command)
def alone() -> None:
    raise RpbuildError("x")


def test_a_command_alone_maps_errors_the_same() -> None:
    result = CliRunner().invoke(alone, [])
    assert result.exit_code == 1 and result.stderr == "Error: x\n"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_outside_the_commands_imports_click() -> None:
    library = [
        path for path in BUILDER.rglob("*.py") if "commands" not in path.relative_to(BUILDER).parts
    ]
    assert len(library) > 20
    assert [str(p.relative_to(BUILDER)) for p in library if "click" in _imports(p)] == []
