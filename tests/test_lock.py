"""Pinned bases: the lock file format, and moved tags against a real local registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.commands.cmd_image import image
from builder.commands.cmd_lock import lock
from builder.commands.cmd_push import push
from builder.registry.client import RegistryClient
from builder.registry.lock import (
    LOCK_FILE,
    BaseMovedError,
    LockFile,
    LockFileError,
    check_base,
    read_lock,
    write_lock,
)
from builder.registry.reference import parse_ref
from tests.fixtures.registry import LocalRegistry

DIGEST = "sha256:" + "1" * 64


def test_round_trip_and_pin(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE
    write_lock(path, LockFile({"nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04": DIGEST}))
    assert json.loads(path.read_text()) == {
        "version": 1,
        "bases": {"nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04": DIGEST},
    }
    loaded = read_lock(path)
    assert loaded is not None
    assert loaded.pin("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04") == (
        f"nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04@{DIGEST}"
    )
    assert loaded.pin("other:1") == "other:1"
    assert read_lock(tmp_path / "absent.lock") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 7, "bases": {}}', '"version": 1'),
        ('{"version": 1, "bases": {"a:1": "md5:x"}}', "sha256 digests"),
    ],
)
def test_malformed_lock_file_names_the_fix(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / LOCK_FILE
    path.write_text(text)
    with pytest.raises(LockFileError, match=problem) as caught:
        read_lock(path)
    assert "rpbuild lock" in str(caught.value)


def test_locked_build_needs_the_base_in_the_lock_file(tmp_path: Path) -> None:
    """--locked without a lock file, or one that lacks the base: exit 2 before any build
    or registry call, dry run or not (QA 13: exit 1, and a dry run exited 0)."""
    assert check_base("a:1", None).from_ref == "a:1"
    (tmp_path / "handler.py").write_text("")
    lock_file = tmp_path / LOCK_FILE
    for lock_text, problem in (
        (None, f"there is no lock file {lock_file}"),
        (
            '{"version": 1, "bases": {"b:1": "sha256:' + "0" * 64 + '"}}',
            f"{lock_file} does not pin",
        ),
    ):
        if lock_text is not None:
            lock_file.write_text(lock_text)
        for dry_run in ([], ["--dry-run"]):
            args = [str(tmp_path), "--locked", "--json", *dry_run]
            result = CliRunner().invoke(image, args)
            assert result.exit_code == 2, result.output
            error = json.loads(result.stdout)
            assert error["ok"] is False and error.get("source") == "--locked", error
            assert problem in error["error"]
            assert "run `rpbuild lock` with the same options first" in error["error"]


def test_dry_run_pins_from_the_lock_file_without_the_registry(tmp_path: Path) -> None:
    base = "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    write_lock(tmp_path / LOCK_FILE, LockFile({base: DIGEST}))
    result = CliRunner().invoke(image, [str(tmp_path), "--cuda", "12.1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"FROM {base}@{DIGEST}" in result.output


@pytest.mark.docker
@pytest.mark.registry
def test_lock_then_the_tag_moves(
    registry: LocalRegistry, tiny_image: Callable[..., str], tmp_path: Path
) -> None:
    base = f"{registry.host}/rpbuild/base-lock:stable"
    first = tiny_image(base, content="first")
    assert CliRunner().invoke(push, [first]).exit_code == 0
    locked = CliRunner().invoke(lock, [str(tmp_path), "--base-image", base])
    assert locked.exit_code == 0, locked.output
    lock_file = read_lock(tmp_path / LOCK_FILE)
    assert lock_file is not None
    first_digest = RegistryClient(registry.host).manifest_digest(parse_ref(base))
    assert lock_file.bases == {base: first_digest}
    assert check_base(base, lock_file).from_ref == f"{base}@{first_digest}"
    assert check_base(base, lock_file).warnings == ()
    unchanged = CliRunner().invoke(lock, [str(tmp_path), "--check"])
    assert unchanged.exit_code == 0, unchanged.output

    tiny_image(base, content="second")  # the same tag, new content: the base moved
    assert CliRunner().invoke(push, [base]).exit_code == 0
    moved = check_base(base, lock_file)
    assert moved.from_ref == f"{base}@{first_digest}"
    assert "moved" in moved.warnings[0] and first_digest in moved.warnings[0]
    with pytest.raises(BaseMovedError, match="rpbuild lock"):
        check_base(base, lock_file, locked=True)
    checked = CliRunner().invoke(lock, [str(tmp_path), "--check"])
    assert checked.exit_code == 1
    assert "moved" in checked.output

    relocked = CliRunner().invoke(lock, [str(tmp_path), "--base-image", base, "--json"])
    assert relocked.exit_code == 0, relocked.output
    assert json.loads(relocked.output)["bases"][base] != first_digest
