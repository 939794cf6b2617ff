"""Builds on another engine, chosen by docker context, and a rebuild from registry cache.

The second engine (tests/fixtures/second_engine.py) starts empty: whatever a build there
does not run, it took from the registry. Its build and truth check go through the
context, so the image lands on that engine and nowhere else.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from builder import engine
from tests.fixtures.docker_engine import CA_BUNDLE, STAND_IN_PYTHON, rpbuild
from tests.fixtures.registry import LocalRegistry
from tests.fixtures.second_engine import SecondEngine

DOCKER = "/usr/bin/docker"
_RUN_STEP = re.compile(r"^#(\d+) \[[^\]]*\d+/\d+\] RUN ")


def test_context_and_builder_reach_every_docker_call(tmp_path: Path) -> None:
    """The context selects the engine of the build and of the inspect/run calls after it."""
    builder = engine.find_builder(context="far", buildx_builder="k8s")
    request = engine.BuildRequest(
        tmp_path, tmp_path / "Dockerfile", ("t:1",), cache_from=("type=registry,ref=r/c:1",),
        cache_to=("type=inline",),
    )  # fmt: skip
    argv = engine.build_argv(builder, request, tmp_path / "iid")
    assert argv[1:7] == ["--context", "far", "buildx", "build", "--load", "--builder"]
    assert argv[7] == "k8s"
    assert argv[-5:] == [
        "--cache-from", "type=registry,ref=r/c:1", "--cache-to", "type=inline", str(tmp_path),
    ]  # fmt: skip
    assert builder.docker[1:] == ["--context", "far"]


def _flags(base: str) -> list[str]:
    flags = ["--cuda", "12.1", "--python", STAND_IN_PYTHON, "--base-image", base]
    return flags + (["--ca-bundle", str(CA_BUNDLE)] if CA_BUNDLE.is_file() else [])


def _uncached_run_steps(output: str) -> list[str]:
    """The RUN steps BuildKit executed instead of taking from the cache."""
    lines = output.splitlines()
    steps = {m.group(1): line for line in lines if (m := _RUN_STEP.match(line))}
    return [line for step, line in steps.items() if f"#{step} CACHED" not in lines]


@pytest.mark.docker
@pytest.mark.registry
def test_a_clean_engine_chosen_by_context_builds_from_the_registry_cache(
    docker_builder: Any,
    registry_stand_in: str,
    registry: LocalRegistry,
    second_engine: SecondEngine,
) -> None:
    cache = f"{registry.host}/cache/base:warm"
    code, _, output = rpbuild(
        "image", *_flags(registry_stand_in), "-t", cache, "--cache-to", "type=inline", "--push"
    )
    assert code == 0, output

    local = "rpbuild-test/from-cache:1"
    code, payload, output = rpbuild(
        "image", *_flags(registry_stand_in), "-t", local, "--context", second_engine.context,
        "--cache-from", f"type=registry,ref={cache}",
    )  # fmt: skip
    assert code == 0, output
    assert [line for line in output.splitlines() if _RUN_STEP.match(line)], output
    assert _uncached_run_steps(output) == []
    assert payload["images"][-1]["verify"]["ok"] is True

    there = subprocess.run(
        [DOCKER, "--context", second_engine.context, "image", "inspect", local],
        capture_output=True,
    )
    here = subprocess.run([DOCKER, "image", "inspect", local], capture_output=True)
    assert there.returncode == 0
    assert here.returncode != 0
    subprocess.run([DOCKER, "rmi", cache], capture_output=True)
