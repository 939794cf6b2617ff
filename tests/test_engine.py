"""Choosing a BuildKit-capable client, the build command line, naming a failing step."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from builder import engine
from builder.errors import BuildError, DockerUnavailableError


def fake_client(path: Path, version: str, buildx: bool) -> str:
    """An executable that answers `version` and `buildx version` like a docker client."""
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then {"echo buildx 0.13" if buildx else "exit 1"}; exit $?; fi\n'
        f'if [ "$1" = version ]; then echo {version}; exit 0; fi\n'
        "exit 2\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_client_with_buildx_wins(tmp_path: Path) -> None:
    old = fake_client(tmp_path / "old", "20.10.24", buildx=False)
    new = fake_client(tmp_path / "new", "28.1.1", buildx=True)
    builder = engine.find_builder([old, new])
    assert builder.build_argv == (new, "buildx", "build", "--load")
    assert builder.kind == "buildx"


def test_an_old_client_builds_with_its_own_buildkit(tmp_path: Path) -> None:
    new = fake_client(tmp_path / "new", "28.1.1", buildx=False)
    old = fake_client(tmp_path / "old", "20.10.24", buildx=False)
    builder = engine.find_builder([new, old])
    assert builder.build_argv == (old, "build")
    assert builder.env == (("DOCKER_BUILDKIT", "1"),)


def test_only_new_clients_without_buildx_is_an_error_naming_what_to_install(
    tmp_path: Path,
) -> None:
    new = fake_client(tmp_path / "new", "28.1.1", buildx=False)
    with pytest.raises(DockerUnavailableError, match="install the buildx plugin"):
        engine.find_builder([new])


def test_no_client_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DockerUnavailableError, match="no docker client"):
        engine.find_builder([str(tmp_path / "missing")])


def test_the_build_command_carries_every_option(tmp_path: Path) -> None:
    builder = engine.Builder("docker", ("docker", "buildx", "build", "--load"))
    request = engine.BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        tags=("a:1", "a:2"),
        labels={"k": "v"},
        build_args=(("X", "1"),),
        secrets=("id=s,src=f",),
        platform="linux/amd64",
        no_cache=True,
    )
    argv = engine.build_argv(builder, request, tmp_path / "iid")
    assert argv == [
        "docker",
        "buildx",
        "build",
        "--load",
        "--progress=plain",
        "-f",
        str(tmp_path / "Dockerfile"),
        "--iidfile",
        str(tmp_path / "iid"),
        "-t",
        "a:1",
        "-t",
        "a:2",
        "--label",
        "k=v",
        "--build-arg",
        "X=1",
        "--secret",
        "id=s,src=f",
        "--platform",
        "linux/amd64",
        "--no-cache",
        str(tmp_path),
    ]


TRANSCRIPT = """\
#5 [1/3] FROM docker.io/library/debian
#5 DONE 0.0s
#6 [2/3] RUN apt-get update
#6 0.512 Get:1 http://deb.example bookworm InRelease
#6 DONE 1.0s
#7 [3/3] RUN pip install -r /app/requirements.txt
#7 0.801 ERROR: Could not find a version that satisfies the requirement nope
#7 ERROR: process "/bin/sh -c pip install -r /app/requirements.txt" did not complete successfully
------
 > [3/3] RUN pip install -r /app/requirements.txt:
------
ERROR: failed to solve: process did not complete successfully: exit code: 1
"""


def test_a_failure_names_the_failing_step_and_its_own_log_lines() -> None:
    log = engine.StepLog()
    for line in TRANSCRIPT.splitlines():
        log.feed(line)
    error = log.error(1)
    assert isinstance(error, BuildError)
    assert error.step == "[3/3] RUN pip install -r /app/requirements.txt"
    assert error.log_tail[0] == "[3/3] RUN pip install -r /app/requirements.txt"
    assert "satisfies the requirement nope" in error.log_tail[1]
    assert not any("apt-get" in line for line in error.log_tail)


def test_an_engine_that_does_not_answer_is_an_error_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    with pytest.raises(DockerUnavailableError, match="Start it"):
        engine.check_engine(engine.Builder("docker", ("docker", "build")))


def _docker_context(config: Path, name: str, host: str) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    endpoint = {"docker": {"Host": host, "SkipTLSVerify": False}}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": endpoint})
    )


def test_the_sdk_finds_the_engine_as_the_cli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker-config"
    _docker_context(config, "elsewhere", f"unix://{tmp_path}/context.sock")
    (config / "config.json").write_text(json.dumps({"currentContext": "elsewhere"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(DockerUnavailableError, match=r"context\.sock"):
        engine.sdk()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/host.sock")
    with pytest.raises(DockerUnavailableError, match=r"host\.sock"):
        engine.sdk()
