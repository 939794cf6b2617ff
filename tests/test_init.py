"""`rpbuild init`: the project files, refusal to overwrite, options checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.build import config
from builder.commands.cli import main
from builder.commands.cmd_init import init

FILES = ["handler.py", "test_input.json", "requirements.txt", "rpbuild.yaml"]


def run_init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(init, list(args))
    return result.exit_code, result.output


def test_init_writes_a_project_whose_config_loads(tmp_path: Path) -> None:
    target = tmp_path / "My Worker"
    code, text = run_init(str(target))
    assert code == 0, text
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    loaded = config.load(target)
    assert loaded is not None
    assert (loaded.cuda, loaded.python, loaded.repository) == ("12.1", "3.11", "my-worker")
    assert loaded.handler == "handler.py" and loaded.requirements == "requirements.txt"
    handler = (target / "handler.py").read_text()
    assert "import runpod" in handler and "async def handler(job):" in handler
    assert "runpod.serverless.start(" in handler and "yield" in handler
    compile(handler, "handler.py", "exec")
    test_input = json.loads((target / "test_input.json").read_text())
    assert test_input == {"input": {"prompt": "hello from my-worker"}}
    assert f"created {target / 'rpbuild.yaml'}" in text


def test_init_options_reach_the_config(tmp_path: Path) -> None:
    code, text = run_init(
        str(tmp_path), "--repository", "ghcr.io/me/w", "--cuda", "12.4", "--python", "3.12"
    )
    assert code == 0, text
    loaded = config.load(tmp_path)
    assert loaded is not None
    assert (loaded.repository, loaded.cuda, loaded.python) == ("ghcr.io/me/w", "12.4", "3.12")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("mine\n")
    code, text = run_init(str(tmp_path))
    assert code == 2  # bad input, not a failure of the work (QA 13: it exited 1)
    assert "handler.py" in text and "--force" in text
    assert (tmp_path / "handler.py").read_text() == "mine\n"
    assert not (tmp_path / "rpbuild.yaml").exists()
    code, text = run_init(str(tmp_path), "--force")
    assert code == 0, text
    assert "import runpod" in (tmp_path / "handler.py").read_text()


def test_init_rejects_bad_options_all_at_once(tmp_path: Path) -> None:
    code, text = run_init(str(tmp_path), "--repository", "Not A Repo", "--python", "three")
    assert code == 2
    assert "--repository 'Not A Repo'" in text and "--python 'three'" in text
    assert list(tmp_path.iterdir()) == []


def test_init_json_result(tmp_path: Path) -> None:
    code, text = run_init(str(tmp_path / "w"), "--json")
    assert code == 0, text
    data = json.loads(text)
    assert data["directory"] == str(tmp_path / "w")
    assert [Path(p).name for p in data["files"]] == FILES


def test_init_where_no_directory_can_be_made_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "sub"
    result = CliRunner().invoke(init, [str(target)])
    assert result.exit_code == 2, result.output
    assert f"cannot create the project in {target}" in result.output
    assert "choose a directory you can write to" in result.output
    assert isinstance(result.exception, SystemExit)


def test_init_says_repository_names_are_lower_case(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        init, [str(tmp_path / "w"), "--repository", "ghcr.io/x/Y", "--json"]
    )
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert "--repository 'ghcr.io/x/Y': 'Y' has upper case letters" in error
    assert "repository names are lower case" in error and "write it 'y'" in error


def test_init_refuses_an_empty_directory_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rpbuild init "$UNSET"` wrote into the current directory (QA 13)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "", "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)
    assert error["ok"] is False and "is empty: name a directory" in error["error"]
    assert list(tmp_path.iterdir()) == []
