"""The image matrix: loading and validation, filters, list/github/bake, CI workflows."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from builder.build import image
from builder.build.bake import BAKE_FILE, write_bake
from builder.build.matrix import (
    MatrixError,
    MatrixRow,
    github_matrix,
    load_matrix,
    parse_filters,
    select,
)
from builder.commands.cli import main
from builder.errors import InputError
from builder.registry.lock import LockFile
from tests.test_require_cuda import recorded_string

ROOT = Path(__file__).resolve().parent.parent


def _matrix_file(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    """The rows written out in full: a matrix file may not use YAML aliases."""
    path = tmp_path / "matrix.yaml"
    images = [dict(row) for row in rows]
    path.write_text(
        yaml.safe_dump({"registry": "127.0.0.1:5000", "repository": "t/base", "images": images})
    )
    return path


ROW = {
    "name": "cu121",
    "cuda": "12.1",
    "python": "3.10",
    "torch": "2.3.1",
    "ubuntu": "22.04",
    "flavor": "runtime",
}


def test_shipped_matrix_rows_all_resolve_with_unique_names() -> None:
    shipped = yaml.safe_load((ROOT / "images" / "matrix.yaml").read_text())["images"]
    matrix = load_matrix()
    assert [row.name for row in matrix.rows] == [row["name"] for row in shipped]
    assert len({row.name for row in matrix.rows}) == len(matrix.rows)
    for row, raw in zip(matrix.rows, shipped, strict=True):
        assert row.spec.cuda.version.startswith(raw["cuda"] + ".")
        assert row.spec.python == raw["python"]


def test_every_problem_is_reported_naming_its_row(tmp_path: Path) -> None:
    rows = [
        ROW,
        {**ROW, "name": "old-torch", "cuda": "12.8", "torch": "2.1.2"},
        {**ROW, "name": "float", "cuda": 12.1},
        {**ROW, "name": "extra", "colour": "red"},
        ROW,
    ]
    with pytest.raises(MatrixError) as caught:
        load_matrix(_matrix_file(tmp_path, rows))
    text = caught.value.format_message()
    assert "row 'old-torch': cuda 12.8: torch 2.1.2 has no wheel for CUDA 12.8 (cu128)" in text
    assert "row 'float': cuda must be a quoted string" in text
    assert "row 'extra': unknown key(s) ['colour']" in text
    assert "row 'cu121': the name is used twice" in text
    assert caught.value.exit_code == 2


def test_filters() -> None:
    matrix = load_matrix()
    assert {r.spec.cuda.version for r in select(matrix, parse_filters(["cuda=12.1"]))} == {"12.1.1"}
    devel = select(matrix, parse_filters(["cuda=12.1", "cuda=12.8", "flavor=devel"]))
    assert [r.name for r in devel] == [
        "cuda121-py311-torch241-devel",
        "cuda128-py312-torch271-devel",
    ]
    assert [r.name for r in select(matrix, parse_filters(["torch=none"]))] == [
        "cuda128-py312-notorch"
    ]
    with pytest.raises(InputError, match="KEY one of name, cuda"):
        parse_filters(["gpu=a100"])
    with pytest.raises(InputError, match=r"no row .* matches cuda=9.0; rows: cuda121"):
        select(matrix, parse_filters(["cuda=9.0"]))


def test_list_and_github_commands() -> None:
    runner = CliRunner()
    listed = runner.invoke(
        main,
        [
            "matrix",
            "list",
            "--filter",
            "name=cuda121-py310-torch231",
            "--json",
            "--registry",
            "ghcr.io",
        ],
    )
    assert listed.exit_code == 0, listed.output
    (record,) = json.loads(listed.output)
    assert record["tags"] == [
        "ghcr.io/rpbuild/base:cuda12.1.1-cudnn8-runtime-ubuntu22.04-py3.10-torch2.3.1-cu121-"
        + f"rpbuild{record['tags'][0].rsplit('rpbuild', 1)[1]}",
        "ghcr.io/rpbuild/base:cuda121-py310-torch231",
    ]
    table = runner.invoke(main, ["matrix", "list"])
    assert table.output.splitlines()[0].split() == [
        "name",
        "cuda",
        "python",
        "torch",
        "ubuntu",
        "flavor",
        "tag",
    ]
    assert len(table.output.splitlines()) == 1 + len(load_matrix().rows)

    github = runner.invoke(main, ["matrix", "github", "--filter", "flavor=devel"])
    assert github.exit_code == 0
    assert len(github.output.splitlines()) == 1  # one line for $GITHUB_OUTPUT
    include = json.loads(github.output)["include"]
    assert [job["name"] for job in include] == [
        "cuda121-py311-torch241-devel",
        "cuda128-py312-torch271-devel",
    ]


def test_bake_file_structure_and_contexts(tmp_path: Path) -> None:
    matrix = load_matrix(
        _matrix_file(tmp_path, [ROW, {**ROW, "name": "dev", "flavor": "devel", "default": False}])
    )
    base = matrix.rows[0].spec.from_ref
    digest = "sha256:" + "2" * 64
    path = write_bake(matrix, matrix.rows, tmp_path / "out", LockFile({base: digest}))
    data = json.loads(path.read_text())
    assert set(data["variable"]) == {"REGISTRY", "TAG_PREFIX", "REVISION", "SOURCE"}
    assert data["variable"]["REGISTRY"] == {"default": "127.0.0.1:5000"}
    assert data["group"] == {
        "default": {"targets": ["cu121"]},
        "all": {"targets": ["cu121", "dev"]},
    }
    target = data["target"]["cu121"]
    assert target["inherits"] == ["_common"]
    assert target["tags"][1] == "${REGISTRY}/t/base:${TAG_PREFIX}cu121"
    assert target["labels"]["io.rpbuild.base"] == f"{base}@{digest}"
    assert target["platforms"] == ["linux/amd64"]
    # Inline cache (works with the docker driver): the row's last pushed image.
    assert target["cache-from"] == ["type=registry,ref=${REGISTRY}/t/base:cu121"]
    assert target["cache-to"] == ["type=inline"]
    context = tmp_path / "out" / "cu121"
    assert f"FROM {base}@{digest}" in (context / "Dockerfile").read_text()
    assert (context / "runtime" / "requirements.txt").is_file()
    assert list((context / "runtime").glob("*.whl"))


def test_a_row_carries_its_platforms_into_bake_and_the_ci_matrix(tmp_path: Path) -> None:
    both = ["linux/amd64", "linux/arm64"]
    matrix = load_matrix(_matrix_file(tmp_path, [{**ROW, "platforms": both}]))
    assert matrix.rows[0].platforms == tuple(both)
    assert matrix.rows[0].options.platform == "linux/amd64,linux/arm64"
    data = json.loads(write_bake(matrix, matrix.rows, tmp_path / "out").read_text())
    assert data["target"]["cu121"]["platforms"] == both
    (job,) = github_matrix(matrix, matrix.rows)["include"]
    assert job["platforms"] == "linux/amd64,linux/arm64"
    assert job["cache_from"] == "type=registry,ref=127.0.0.1:5000/t/base:cu121"
    assert job["cache_to"] == "type=inline"


BOTH = ["linux/amd64", "linux/arm64"]


def _baked_dockerfile(tmp_path: Path, row: dict[str, object]) -> tuple[MatrixRow, str]:
    matrix = load_matrix(_matrix_file(tmp_path, [row]))
    write_bake(matrix, matrix.rows, tmp_path / "out")
    return matrix.rows[0], (tmp_path / "out" / str(row["name"]) / "Dockerfile").read_text()


def test_a_two_platform_row_bakes_each_architectures_own_nvidia_require_cuda(
    tmp_path: Path,
) -> None:
    """12.1: NVIDIA's arm64 image requires only cuda>=12.1, amd64's adds driver branches.
    One Dockerfile serves both: a stage per architecture, the build goes on from
    TARGETARCH's, and nothing after it sets the requirement again."""
    row, dockerfile = _baked_dockerfile(tmp_path, {**ROW, "platforms": BOTH})
    amd64, arm64 = recorded_string("12.1.1", "amd64"), recorded_string("12.1.1", "arm64")
    assert amd64 != arm64
    base = row.spec.from_ref
    stages = (
        f"FROM {base} AS amd64\nENV NVIDIA_REQUIRE_CUDA={json.dumps(amd64)}\n\n"
        f"FROM {base} AS arm64\nENV NVIDIA_REQUIRE_CUDA={json.dumps(arm64)}\n\n"
        "FROM ${TARGETARCH}\n"
    )
    assert stages in dockerfile
    assert dockerfile.count("FROM ") == 3
    assert dockerfile.count("NVIDIA_REQUIRE_CUDA=") == 2


def test_a_two_platform_row_with_one_requirement_bakes_the_single_platform_dockerfile(
    tmp_path: Path,
) -> None:
    """12.8: NVIDIA writes the same string for both, so the Dockerfile is today's."""
    both = {**ROW, "cuda": "12.8", "torch": "2.7.1", "ubuntu": "24.04", "platforms": BOTH}
    row, dockerfile = _baked_dockerfile(tmp_path, both)
    single = image.plan(replace(row.options, platform="linux/amd64"), row.spec)
    assert dockerfile == single.base.dockerfile
    assert f'NVIDIA_REQUIRE_CUDA="{recorded_string("12.8.1", "arm64")}"' in dockerfile
    assert "TARGETARCH" not in dockerfile


@pytest.mark.parametrize("platforms", ["linux/arm64", [], ["arm64"]])
def test_platforms_must_be_a_list_of_linux_platforms(tmp_path: Path, platforms: object) -> None:
    with pytest.raises(MatrixError, match="platforms must be a list"):
        load_matrix(_matrix_file(tmp_path, [{**ROW, "platforms": platforms}]))


def _bake_print(out: Path, variables: dict[str, str]) -> dict[str, Any]:
    """What `docker buildx bake --print` makes of OUT's bake file (group `all`)."""
    done = subprocess.run(
        ["docker", "buildx", "bake", "--print", "-f", BAKE_FILE, "all"],
        cwd=out,
        capture_output=True,
        text=True,
        env={**os.environ, **variables},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    plan: dict[str, Any] = json.loads(done.stdout)
    return plan


@pytest.mark.docker
def test_a_row_with_a_stage_per_architecture_is_accepted_by_buildx_bake_print(
    tmp_path: Path,
) -> None:
    matrix = load_matrix(_matrix_file(tmp_path, [{**ROW, "platforms": BOTH}]))
    out = write_bake(matrix, matrix.rows, tmp_path / "out").parent
    target = _bake_print(out, {})["target"]["cu121"]
    assert target["platforms"] == BOTH
    dockerfile = (out / target["context"] / target["dockerfile"]).read_text()
    assert "FROM ${TARGETARCH}" in dockerfile


@pytest.mark.docker
def test_bake_file_is_accepted_by_buildx_bake_print(tmp_path: Path) -> None:
    out = tmp_path / "bake"
    result = CliRunner().invoke(
        main, ["matrix", "bake", "--out", str(out), "--lock-file", str(tmp_path / "none.lock")]
    )
    assert result.exit_code == 0, result.output
    plan = _bake_print(out, {"REGISTRY": "127.0.0.1:5000", "TAG_PREFIX": "nightly-"})
    rows = load_matrix().rows
    assert set(plan["target"]) == {row.name for row in rows}
    first = plan["target"][rows[0].name]
    assert f"127.0.0.1:5000/rpbuild/base:nightly-{rows[0].name}" in first["tags"]
    assert first["platforms"] == ["linux/amd64"]
    assert first["context"] == rows[0].name
    assert first["labels"]["io.rpbuild.cuda"] == rows[0].spec.cuda.version


@pytest.mark.parametrize("name", ["test.yml", "publish.yml", "data-refresh.yml"])
def test_workflows_parse(name: str) -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
    if name == "data-refresh.yml":
        assert triggers["schedule"] == [{"cron": "17 5 * * 1"}]
        steps = json.dumps(workflow["jobs"]["refresh"]["steps"])
        assert "rpbuild data refresh" in steps and "peter-evans/create-pull-request" in steps
    elif name == "test.yml":
        assert set(triggers) == {"push", "pull_request"}
        assert any(step.get("run") == ".ci/run" for step in workflow["jobs"]["test"]["steps"])
    else:
        build = workflow["jobs"]["build"]
        assert "rpbuild matrix github" in json.dumps(workflow["jobs"]["plan"])
        steps = json.dumps(build["steps"])
        assert "rpbuild matrix build --push" in steps and "--metadata-file" in steps
        for piece in ("matrix.cache_from", "matrix.cache_to", "--sign keyless", "rpbuild verify"):
            assert piece in steps
        assert build["permissions"]["id-token"] == "write"
        assert "actions/upload-artifact" in steps
        assert "secrets.REGISTRY_PASSWORD" in steps
