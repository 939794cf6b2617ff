"""rpbuild.yaml: parse, validate (every error at once), resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.build import config
from builder.commands.cli import main


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / config.FILE_NAME).write_text(text)
    return tmp_path


def problems(
    tmp_path: Path, text: str, known_cuda: tuple[str, ...] = ()
) -> config.ProjectConfigError:
    with pytest.raises(config.ProjectConfigError) as caught:
        config.load(write(tmp_path, text), known_cuda)
    return caught.value


def test_no_file_means_no_config(tmp_path: Path) -> None:
    assert config.load(tmp_path) is None


def test_full_file_resolves(tmp_path: Path) -> None:
    loaded = config.load(
        write(
            tmp_path,
            """
cuda: "12.1"
python: "3.11"
torch: "2.4.1"
ubuntu: "22.04"
flavor: devel
repository: 127.0.0.1:5000/team/worker
tags: [ghcr.io/me/w:latest, w]
handler: src/handler.py
requirements: requirements.txt
system_packages: [ffmpeg, libgl1]
build_args: {MODEL: small, LAYERS: 12, FAST: true}
gpu:
  min_gpus: 2
  min_gpu_memory: 16000
  min_compute_capability: "8.0"
""",
        )
    )
    assert loaded is not None
    assert (loaded.cuda, loaded.python, loaded.torch, loaded.flavor) == (
        "12.1",
        "3.11",
        "2.4.1",
        "devel",
    )
    assert loaded.repository == "127.0.0.1:5000/team/worker"
    assert loaded.tags == ("ghcr.io/me/w:latest", "w")
    assert loaded.system_packages == ("ffmpeg", "libgl1")
    assert loaded.build_args == {"MODEL": "small", "LAYERS": "12", "FAST": "true"}
    assert (loaded.min_gpus, loaded.min_gpu_memory, loaded.min_compute_capability) == (
        2,
        16000,
        "8.0",
    )
    assert loaded.directory == tmp_path


def test_nulls_and_empty_file_keep_defaults(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, "torch: null\ngpu:\n  min_gpus: null\n"))
    assert loaded is not None
    assert loaded.torch is None and loaded.min_gpus is None and loaded.handler is None
    assert config.load(write(tmp_path, "")) == config.ProjectConfig(path=tmp_path / "rpbuild.yaml")


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path: Path) -> None:
    error = problems(tmp_path, 'cuda: "12.1"\ncudaa: "12.1"\n')
    assert error.exit_code == 2
    [issue] = error.issues
    assert issue.key == "cudaa"
    assert str(tmp_path / "rpbuild.yaml") in error.message
    assert "cudaa: unknown key" in error.message
    assert "allowed: cuda, python, torch" in error.message


def test_unknown_gpu_key_is_reported_with_its_path(tmp_path: Path) -> None:
    error = problems(tmp_path, "gpu:\n  min_vram: 8\n")
    assert "gpu.min_vram: unknown key" in error.message
    assert "min_gpus, min_gpu_memory, min_compute_capability" in error.message


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    error = problems(
        tmp_path,
        """
python: 3.10
flavor: slim
tags: latest
system_packages: [ffmpeg, "Bad Name"]
colour: blue
gpu:
  min_gpus: 0
  min_gpu_memory: "16GB"
""",
    )
    keys = [issue.key for issue in error.issues]
    assert keys == [
        "python",
        "flavor",
        "tags",
        "system_packages[1]",
        "colour",
        "gpu.min_gpus",
        "gpu.min_gpu_memory",
    ]
    assert f"{len(keys)} problem(s)" in error.message


def test_bad_value_type_explains_quoting(tmp_path: Path) -> None:
    error = problems(tmp_path, "python: 3.10\n")
    [issue] = error.issues
    assert issue.value == 3.1
    assert 'must be a quoted string, e.g. python: "3.10"' in error.message
    assert 'python: "3.1"' not in error.message
    assert "YAML reads 3.10 as the number 3.1" in error.message


def test_bad_cuda_lists_the_known_releases(tmp_path: Path) -> None:
    error = problems(tmp_path, 'cuda: "12.3"\n', known_cuda=("11.8.0", "12.1.1", "12.4.1"))
    assert "cuda: unknown CUDA release (got '12.3'); allowed: 11.8.0, 12.1.1, 12.4.1" in (
        error.message
    )
    assert config.load(write(tmp_path, 'cuda: "12.1"\n'), ("12.1.1",)) is not None
    assert config.load(write(tmp_path, 'cuda: "12.1.1"\n'), ("12.1.1",)) is not None
    assert problems(tmp_path, 'cuda: "12.1"\n', known_cuda=("12.10.0",)).issues[0].key == "cuda"
    [unquoted] = problems(tmp_path, "cuda: 12.10\n", known_cuda=("12.1.1",)).issues
    assert 'must be a quoted string, e.g. cuda: "12.10"' in unquoted.message


def test_repository_and_tags_follow_the_reference_grammar_of_push(tmp_path: Path) -> None:
    digest = "sha256:" + "0" * 64
    error = problems(
        tmp_path,
        f"repository: ghcr.io/me/w:v1\ntags: [ghcr.io/Me/w, 'ghcr.io/me/w@{digest}', w:v1]\n",
    )
    assert [issue.key for issue in error.issues] == ["repository", "tags[0]"]
    assert [i.key for i in problems(tmp_path, f"tags: ['w@{digest}']\n").issues] == ["tags[0]"]
    loaded = config.load(write(tmp_path, "repository: localhost:5000/my--w\ntags: [my__w:v1]\n"))
    assert loaded is not None and loaded.tags == ("my__w:v1",)


def test_malformed_cuda_says_what_a_release_looks_like(tmp_path: Path) -> None:
    error = problems(tmp_path, 'cuda: "twelve"\n')
    assert 'allowed: a CUDA release such as "12.1"' in error.message


def test_flavor_lists_choices(tmp_path: Path) -> None:
    error = problems(tmp_path, "flavor: slim\n")
    assert "flavor: unknown choice (got 'slim'); allowed: base, runtime, devel" in error.message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    error = problems(tmp_path, 'cuda: "12.1"\npython: [3.11\n')
    assert "not valid YAML" in error.message and "line" in error.message


@pytest.mark.parametrize("text", ["- cuda\n- python\n", "just text\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    assert "must be a mapping" in problems(tmp_path, text).message


def test_absolute_handler_path_is_refused(tmp_path: Path) -> None:
    error = problems(tmp_path, "handler: /srv/handler.py\n")
    assert "handler: invalid file name" in error.message


def image_plan(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["image", *args, "--dry-run", "--json"])
    return result.exit_code, result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = CliRunner().invoke(main, ["init", str(tmp_path), "--repository", "ghcr.io/me/w"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_image_needs_no_flags_in_an_init_project(project: Path) -> None:
    code, text = image_plan(str(project))
    assert code == 0, text
    base, app = json.loads(text)["images"]
    assert base["tags"][0].startswith("rpbuild/base:cuda12.1.")
    assert "-py3.11-" in base["tags"][0]
    assert app["tags"][0].startswith("ghcr.io/me/w:cuda12.1.")
    assert 'ENTRYPOINT ["tini", "--", "rpworker", "/app/handler.py"]' in app["dockerfile"]


def test_flags_override_the_file_and_the_file_fills_the_rest(project: Path) -> None:
    settings = project / "rpbuild.yaml"
    settings.write_text(
        settings.read_text()
        .replace("system_packages: []", "system_packages: [ffmpeg]")
        .replace("min_gpus: null", "min_gpus: 2")
        + "tags: [ghcr.io/me/w:latest]\nbuild_args: {MODEL: small, SIZE: 1}\n"
    )
    code, text = image_plan(str(project), "--cuda", "12.4", "--build-arg", "SIZE=2")
    assert code == 0, text
    base, app = json.loads(text)["images"]
    assert base["tags"][0].startswith("rpbuild/base:cuda12.4.")
    assert app["tags"] == ["ghcr.io/me/w:latest"]
    assert "install -y --no-install-recommends ffmpeg" in app["dockerfile"]
    assert "RPWORKER_MIN_GPUS=2" in base["dockerfile"] + app["dockerfile"]
    code, text = image_plan(str(project), "--min-gpus", "3")
    assert code == 0, text
    assert "RPWORKER_MIN_GPUS=3" in text and "RPWORKER_MIN_GPUS=2" not in text


def test_image_refuses_a_bad_file_with_every_problem(project: Path) -> None:
    settings = project / "rpbuild.yaml"
    settings.write_text(
        settings.read_text().replace('cuda: "12.1"', 'cuda: "12.3"') + "colour: blue\n"
    )
    result = CliRunner().invoke(main, ["image", str(project), "--dry-run"])
    assert result.exit_code == 2
    assert "2 problem(s)" in result.output
    assert "cuda: unknown CUDA release (got '12.3'); allowed: 11.8.0, 12.1.1" in result.output
    assert "colour: unknown key (got 'blue')" in result.output and "gpu" in result.output


def test_a_missing_file_named_in_the_config_is_reported(project: Path) -> None:
    settings = project / "rpbuild.yaml"
    settings.write_text(settings.read_text().replace("handler: handler.py", "handler: app.py"))
    result = CliRunner().invoke(main, ["image", str(project), "--dry-run"])
    assert result.exit_code == 2
    assert "handler: file not found (got 'app.py')" in result.output
