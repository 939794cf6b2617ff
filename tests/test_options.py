"""One resolution: flags over rpbuild.yaml, each value with its source, for every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.build.options import load_project, resolve_options, resolve_spec
from builder.commands.cli import main
from builder.errors import IncompatibleChoiceError, InputError, Source
from builder.registry.client import DigestLookup
from builder.registry.lock import LOCK_FILE, read_lock
from builder.registry.pinning import Pinning, checked_spec
from builder.registry.reference import ImageRef

DIGEST = "sha256:" + "c" * 64


def project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rpbuild.yaml").write_text(text)
    return tmp_path


def test_flags_win_and_every_value_names_its_source(tmp_path: Path) -> None:
    directory = project(tmp_path, 'cuda: "11.8"\npython: "3.10"\nbuild_args: {A: "1", B: "2"}\n')
    layer = load_project(directory)
    resolved = resolve_options(directory, {"cuda": "12.1", "build_args": (("B", "3"),)}, layer)
    assert (resolved.options.cuda, resolved.options.python) == ("12.1", "3.10")
    assert resolved.options.build_args == (("A", "1"), ("B", "3"))
    assert resolved.sources["cuda"] == Source("--cuda")
    assert resolved.sources["python"] == Source("python", str(directory / "rpbuild.yaml"))
    assert "torch" not in resolved.sources


def test_a_file_value_rpbuild_rules_out_is_blamed_on_the_file_key(tmp_path: Path) -> None:
    directory = project(tmp_path, 'cuda: "12.8"\ntorch: "2.1.2"\n')
    with pytest.raises(IncompatibleChoiceError) as caught:
        resolve_spec(resolve_options(directory, {}, load_project(directory)))
    assert caught.value.where == Source("cuda", str(directory / "rpbuild.yaml"))
    assert caught.value.fixes == ['torch: "2.7.0" or newer', 'cuda: "12.1"']
    result = CliRunner().invoke(main, ["image", str(directory), "--dry-run"])
    assert result.exit_code == 2
    assert "Usage:" not in result.output and "Invalid value" not in result.output
    assert f"{directory / 'rpbuild.yaml'}: cuda: 12.8: torch 2.1.2 has no wheel" in result.output


def test_a_flag_against_a_file_value_names_each_where_it_was_written(tmp_path: Path) -> None:
    directory = project(tmp_path, 'torch: "2.1.2"\n')
    result = CliRunner().invoke(main, ["image", str(directory), "--cuda", "12.8", "--dry-run"])
    assert result.exit_code == 2
    assert "Invalid value for '--cuda': 12.8: torch 2.1.2" in result.output
    assert 'choose torch: "2.7.0" or newer, or --cuda 12.1' in result.output


def test_a_default_handler_the_user_never_wrote_is_not_an_error(tmp_path: Path) -> None:
    directory = project(tmp_path, 'cuda: "12.1"\n')
    result = CliRunner().invoke(main, ["image", str(directory), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert [step["kind"] for step in json.loads(result.output)["images"]] == ["base"]


def test_a_missing_file_the_project_names_is_blamed_on_its_key(tmp_path: Path) -> None:
    directory = project(tmp_path, "requirements: reqs.txt\n")
    with pytest.raises(InputError) as caught:
        resolve_options(directory, {}, load_project(directory))
    assert caught.value.where == Source("requirements", str(directory / "rpbuild.yaml"))
    assert "file not found (got 'reqs.txt')" in caught.value.format_message()


class FixedDigests(DigestLookup):
    """The registry's answers, without a registry: every tag serves DIGEST."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def __call__(self, ref: ImageRef) -> str:
        self.asked.append(str(ref))
        return DIGEST


def test_lock_and_a_locked_image_agree_on_the_cuda_of_rpbuild_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = project(tmp_path, 'cuda: "11.8"\n')
    registry = FixedDigests()
    monkeypatch.setattr("builder.commands.cmd_lock.DigestLookup", lambda _credentials: registry)
    locked = CliRunner().invoke(main, ["lock", str(directory)])
    assert locked.exit_code == 0, locked.output
    lock_file = read_lock(directory / LOCK_FILE)
    assert lock_file is not None
    (base,) = lock_file.bases
    assert base.startswith("nvidia/cuda:11.8.")

    resolved = resolve_options(directory, {}, load_project(directory))
    spec = checked_spec(
        resolve_spec(resolved), directory, Pinning(locked=True), registry, pytest.fail
    )
    assert spec.from_ref == f"{base}@{DIGEST}"
    plan = CliRunner().invoke(main, ["image", str(directory), "--locked", "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert f"FROM {base}@{DIGEST}\n" in plan.output
