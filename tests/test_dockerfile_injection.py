"""Nothing injected: hostile values for every input that reaches a Dockerfile.

Each value is either refused as bad input (exit 2, naming the option) or rendered so
that the Dockerfile, parsed by BuildKit's own parser (PyPI `dockerfile`, the Go
parser), has exactly the instructions of a benign build, the value intact in its place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dockerfile
import pytest
from click.testing import CliRunner

from builder.build import render
from builder.commands.cli import main

HOSTILE = (
    "x\nRUN echo INJECTED",
    "x\n",
    "x\r\nRUN echo INJECTED",
    'x"\nRUN echo INJECTED\n#',
    "x \\\nRUN echo INJECTED",
    'x", "y"]\nRUN echo INJECTED\n#',
    "x'; echo INJECTED; '",
    "$(echo INJECTED)",
    "RUN echo INJECTED",
    "x\x00y",
)


def dry_run(project: Path, *flags: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(
        main, ["image", str(project), "--cuda", "12.1", *flags, "--dry-run", "--json"]
    )
    payload = json.loads(result.stdout) if result.exit_code == 0 else {}
    return result.exit_code, payload, result.output


def parsed(payload: dict[str, Any]) -> list[list[dockerfile.Command]]:
    return [list(dockerfile.parse_string(step["dockerfile"])) for step in payload["images"]]


def instructions(payload: dict[str, Any]) -> list[list[str]]:
    return [[command.cmd for command in image] for image in parsed(payload)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "handler.py").write_text("print('hi')\n")
    return directory


@pytest.fixture
def benign(project: Path) -> list[list[str]]:
    code, payload, output = dry_run(project)
    assert code == 0, output
    return instructions(payload)


def _refused(code: int, output: str, option: str) -> None:
    assert code == 2, output
    assert option in output


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "flag", ["--base-image", "--repository", "--tag", "--min-compute-capability", "--user"]
)
def test_a_hostile_flag_value_is_refused(project: Path, flag: str, value: str) -> None:
    code, _, output = dry_run(project, flag, value)
    _refused(code, output, flag)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_build_arg_name_is_refused(project: Path, value: str) -> None:
    code, _, output = dry_run(project, "--build-arg", f"{value}=1")
    _refused(code, output, "--build-arg")


@pytest.mark.parametrize(
    "value",
    ["evil.com\nRUN x/app", "a b.com/x", "evil.com:99999999999999999999x/app", "EVIL_.com/x"],
)
def test_the_registry_host_of_a_repository_is_checked(project: Path, value: str) -> None:
    code, _, output = dry_run(project, "--repository", value)
    _refused(code, output, "--repository")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("base_image", "base_image: {}"),
        ("system_packages", "system_packages: [curl, {}]"),
        ("repository", "repository: {}"),
        ("tags", "tags: [{}]"),
        ("user", "user: {}"),
        ("gpu.min_compute_capability", "gpu: {{min_compute_capability: {}}}"),
        ("build_args", "build_args: {{{}: 1}}"),
    ],
)
def test_a_hostile_config_value_is_refused(project: Path, key: str, line: str, value: str) -> None:
    (project / "rpbuild.yaml").write_text(line.format(json.dumps(value)) + "\n")
    code, _, output = dry_run(project)
    _refused(code, output, key)


def test_the_issue_package_list_with_a_trailing_newline_is_refused(project: Path) -> None:
    (project / "rpbuild.yaml").write_text(
        'system_packages: ["curl\\n", "run", "touch", "pwned.txt"]\n'
    )
    code, _, output = dry_run(project)
    _refused(code, output, "system_packages")


@pytest.mark.parametrize("value", HOSTILE[:-1])
def test_a_hostile_handler_file_name_is_quoted(
    project: Path, benign: list[list[str]], value: str
) -> None:
    name = value.replace("/", "_") + ".py"
    (project / name).write_text("print('hi')\n")
    code, payload, output = dry_run(project, "--handler", str(project / name))
    assert code == 0, output
    assert instructions(payload) == benign
    entrypoint = parsed(payload)[-1][-1]
    assert entrypoint.cmd == "ENTRYPOINT"
    assert entrypoint.json
    assert entrypoint.value[-1] == f"/app/{name}"


@pytest.mark.parametrize("value", HOSTILE[:-1])
def test_a_hostile_project_directory_name_stays_one_label(
    tmp_path: Path, benign: list[list[str]], value: str
) -> None:
    directory = tmp_path / value.replace("/", "_")
    directory.mkdir()
    (directory / "handler.py").write_text("print('hi')\n")
    code, payload, output = dry_run(directory)
    assert code == 0, output
    assert instructions(payload) == benign


@pytest.mark.parametrize("value", ['a"b', "a\\", "a\\\nb", "$HOME", "${X:-y} z", "LABEL x=y"])
def test_a_quoted_label_value_stays_one_value_of_one_instruction(value: str) -> None:
    if "\n" in value:
        with pytest.raises(ValueError, match="control character"):
            render.quoted(value)
        return
    commands = list(dockerfile.parse_string(f"FROM x\nLABEL k={render.quoted(value)} j=1\n"))
    assert [command.cmd for command in commands] == ["FROM", "LABEL"]
    assert commands[1].value[0::2] == ("k", "j")


def test_a_user_adds_exactly_its_instructions(project: Path, benign: list[list[str]]) -> None:
    code, payload, output = dry_run(project, "--user", "worker")
    assert code == 0, output
    base, app = instructions(payload)
    assert base == benign[0]
    assert app == [*benign[1][:2], "RUN", *benign[1][2:-1], "USER", "ENTRYPOINT"]
    assert parsed(payload)[1][-2].value == ("worker",)
