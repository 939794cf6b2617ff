"""`rpbuild image` flags, dry runs and exit codes (no Docker: --dry-run only)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from builder.commands.cli import main


def rpbuild(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_dry_run_without_a_handler_prints_the_base_dockerfile(tmp_path: Path) -> None:
    result = rpbuild("image", str(tmp_path), "--cuda", "12.1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# base image: rpbuild/base:cuda12.1.1-cudnn8-runtime-")
    assert "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04" in result.output


def test_dry_run_json_with_a_handler_plans_base_then_app(tmp_path: Path) -> None:
    app = tmp_path / "My App"
    app.mkdir()
    (app / "handler.py").write_text("")
    result = rpbuild("image", str(app), "--cuda", "12.4", "--torch", "2.4.1", "--json", "--dry-run")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert [i["kind"] for i in plan["images"]] == ["base", "app"]
    assert plan["images"][1]["tags"] == [
        "my-app:cuda12.4.1-cudnnnone-base-ubuntu22.04-py3.10-torch2.4.1-cu124-rpbuild0.1.0"
    ]
    assert plan["images"][1]["dockerfile"].startswith(f"FROM {plan['images'][0]['tags'][0]}\n")


def test_tags_and_repository_name_the_final_image(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("")
    tagged = rpbuild(
        "image", str(tmp_path), "-t", "me/w:1", "-t", "me/w:latest", "--json", "--dry-run"
    )
    assert json.loads(tagged.output)["images"][1]["tags"] == ["me/w:1", "me/w:latest"]
    repo = rpbuild("image", str(tmp_path), "--repository", "me/w", "--json", "--dry-run")
    assert json.loads(repo.output)["images"][1]["tags"][0].startswith("me/w:cuda12.8.1-")


def test_a_handler_flag_picks_a_file_inside_the_project(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "serve.py").write_text("")
    result = rpbuild("image", str(tmp_path), "--handler", str(code / "serve.py"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert 'ENTRYPOINT ["tini", "--", "rpworker", "/app/src/serve.py"]' in result.output


def test_gpu_requirements_are_baked_as_env(tmp_path: Path) -> None:
    result = rpbuild(
        "image",
        str(tmp_path),
        "--min-gpus",
        "2",
        "--min-gpu-memory",
        "40000",
        "--min-compute-capability",
        "8.0",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "ENV RPWORKER_MIN_GPUS=2 \\\n    RPWORKER_MIN_FREE_MEMORY_MB=40000 \\\n" in result.output
    assert "RPWORKER_MIN_COMPUTE_CAPABILITY=8.0\n" in result.output


def test_an_impossible_combination_exits_2_before_any_build(tmp_path: Path) -> None:
    result = rpbuild("image", str(tmp_path), "--cuda", "12.8", "--torch", "2.1.2")
    assert result.exit_code == 2
    assert "choose --torch 2.7.0 or newer, or --cuda 12.1" in result.output


def test_malformed_flags_exit_2_naming_the_flag_and_the_form(tmp_path: Path) -> None:
    for flags, says in (
        (["--build-arg", "NOEQUALS"], "must look like KEY=VALUE"),
        (["--secret", "src=only"], "must look like id=NAME,src=FILE"),
        (["--min-compute-capability", "eight"], "must look like 8.0"),
        (["--flavor", "slim"], "is not one of"),
        (["--min-gpus", "0"], "is not in the range"),
    ):
        result = rpbuild("image", str(tmp_path), *flags, "--dry-run")
        assert result.exit_code == 2, (flags, result.output)
        assert f"Invalid value for '{flags[0]}'" in result.output, result.output
        assert says in result.output, result.output


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    result = rpbuild("image", str(tmp_path / "nope"), "--dry-run")
    assert result.exit_code == 2
    assert "is not a directory" in result.output


def test_an_end_of_life_cuda_is_built_with_a_warning(tmp_path: Path) -> None:
    result = rpbuild("image", str(tmp_path), "--cuda", "11.8", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "warning: CUDA 11.8.0 is end-of-life at NVIDIA" in result.stderr
    current = rpbuild("image", str(tmp_path), "--cuda", "12.8", "--dry-run")
    assert "end-of-life" not in current.stderr


def test_files_that_are_not_utf8_exit_2_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(job):\n    return 1\n")
    handler = ["--handler", str(tmp_path / "handler.py"), "--dry-run"]
    cases = (
        ("rpbuild.yaml", b"name: x\n\xff\n", [], "rpbuild.yaml: not UTF-8 text (byte 0xff"),
        ("rpbuild.yaml", "handler: h.py\n".encode("utf-16"), [], "rpbuild.yaml: not UTF-8"),
        ("requirements.txt", b"numpy\xff\n", handler, "requirements.txt: not UTF-8"),
        (
            "t.j2",
            b"\xff\xfe{{ x }}",
            [*handler, "--template", str(tmp_path / "t.j2")],
            "t.j2 is not UTF-8",
        ),
    )
    for name, data, flags, says in cases:
        (tmp_path / name).write_bytes(data)
        result = rpbuild("image", str(tmp_path), *flags)
        (tmp_path / name).unlink()
        assert result.exit_code == 2, (name, result.output)
        assert says in result.output, result.output
        assert "save it as UTF-8" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_handler_outside_the_project_is_blamed_on_where_it_was_written(tmp_path: Path) -> None:
    project, other = tmp_path / "p1", tmp_path / "p2"
    for directory in (project, other):
        directory.mkdir()
        (directory / "handler.py").write_text("")
    outside = str(other / "handler.py")
    (project / "rpbuild.yaml").write_text("handler: ../p2/handler.py\n")
    result = rpbuild("image", str(project), "--dry-run")
    assert result.exit_code == 2, result.output
    assert "rpbuild.yaml: handler: " in result.output, result.output
    assert "--handler" not in result.output
    assert "must be inside the project directory" in result.output
    (project / "rpbuild.yaml").unlink()
    result = rpbuild("image", str(project), "--handler", outside, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--handler'" in result.output


def test_a_bad_file_value_is_named_with_the_rule_it_breaks(tmp_path: Path) -> None:
    """Each message names the key, the value and why it is refused (QA 13)."""
    for text, says in (
        (
            "build_args:\n  1X: 2\n",
            "build_args.1X: invalid name (got '1X'); allowed: a build argument name: a letter "
            "or _, then letters, digits and _",
        ),
        (
            "tags: [BAD]\n",
            "tags[0]: 'BAD' has upper case letters: repository names are lower case in "
            "Docker's reference grammar (only the tag may mix case): write it 'bad' (got 'BAD')",
        ),
        ("repository: ghcr.io/x/Y\n", "repository: 'Y' has upper case letters"),
    ):
        (tmp_path / "rpbuild.yaml").write_text(text)
        result = rpbuild("image", str(tmp_path), "--dry-run")
        assert result.exit_code == 2, (text, result.output)
        assert says in result.output, result.output


def test_flags_name_the_rule_they_break(tmp_path: Path) -> None:
    for flags, says in (
        (["--build-arg", "1X=2"], "'1X': expected a build argument name: a letter or _"),
        (["--tag", "ghcr.io/A/b:Tag"], "'A' has upper case letters: repository names are lower"),
    ):
        result = rpbuild("image", str(tmp_path), *flags, "--dry-run")
        assert result.exit_code == 2, (flags, result.output)
        assert f"Invalid value for '{flags[0]}'" in result.output
        assert says in result.output, result.output


def test_a_directory_named_as_a_file_is_called_a_directory(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "rpbuild.yaml").write_text("handler: certs\n")
    result = rpbuild("image", str(tmp_path), "--dry-run")
    assert result.exit_code == 2, result.output
    assert "rpbuild.yaml: handler: 'certs' is a directory, not a file" in result.output


def test_a_platform_on_a_base_image_does_not_blame_nvidia_cuda(tmp_path: Path) -> None:
    flags = ["--cuda", "12.1", "--python", "3.11", "--platform", "foo", "--dry-run"]
    result = rpbuild("image", str(tmp_path), *flags, "--base-image", "local/debian:bookworm")
    assert result.exit_code == 2, result.output
    assert "nvidia/cuda" not in result.output
    assert "foo: not a platform rpbuild knows CUDA 12.1.1's driver requirement" in result.output
    assert "choose --platform linux/amd64" in result.output
    plain = rpbuild("image", str(tmp_path), *flags)
    assert "foo: nvidia/cuda:12.1.1 has no image for it" in plain.output


def test_an_include_outside_the_project_is_refused_naming_it(tmp_path: Path) -> None:
    """It was accepted, matching nothing (QA 13); handler: ../x is refused likewise."""
    project = tmp_path / "p1"
    project.mkdir()
    (project / "handler.py").write_text("")
    (tmp_path / "x").write_text("")
    for pattern in ("../x", "sub/../../x"):
        (project / "rpbuild.yaml").write_text(f"include: [.env.example, {pattern}]\n")
        result = rpbuild("image", str(project), "--dry-run")
        assert result.exit_code == 2, result.output
        assert "rpbuild.yaml: include[1]: is outside the project directory" in result.output
        assert f"(got '{pattern}')" in result.output
