"""End to end: `rpbuild image` builds real images on the stand-in base and runs them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from builder import __version__, engine
from builder.build import context, image, tags
from tests.fixtures.docker_engine import STAND_IN, base_flags, rpbuild, write_wheel

pytestmark = pytest.mark.docker


def _image(payload: dict[str, Any], kind: str) -> dict[str, Any]:
    image: dict[str, Any] = next(i for i in payload["images"] if i["kind"] == kind)
    return image


def _docker(builder: engine.Builder, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [builder.client, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_base_image_carries_labels_env_and_a_passing_truth_check(
    docker_builder: engine.Builder, gpu_base: dict[str, Any]
) -> None:
    base = _image(gpu_base, "base")
    # The stand-in is a --base-image: its tag and claims name it, not an nvidia/cuda row.
    assert base["tags"][0].startswith(
        f"rpbuild/base:custom-{tags.base_id(STAND_IN)}-cuda12.1.1-py3.11-"
    )
    assert base["verify"]["ok"] is True
    # By id: other tests rebuild this tag as an intermediate base, which carries no provenance.
    info = engine.inspect(docker_builder, base["id"])
    assert info.labels["io.rpbuild.kind"] == "base"
    assert info.labels["io.rpbuild.base"] == STAND_IN
    assert info.labels["io.rpbuild.base-image"] == STAND_IN
    assert not {"io.rpbuild.ubuntu", "io.rpbuild.cudnn", "io.rpbuild.flavor"} & set(info.labels)
    assert info.labels["io.rpbuild.torch"] == "none"
    assert info.labels["org.opencontainers.image.created"].endswith("Z")
    assert info.env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert info.env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert info.env["NVIDIA_REQUIRE_CUDA"].startswith("cuda>=12.1 ")
    assert info.env["RPBUILD_CUDA_VERSION"] == "12.1.1"
    python = _docker(
        docker_builder,
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        base["tags"][0],
        "-c",
        "command -v python && python -c 'import rpworker, sys; print(sys.version)'",
    )
    assert python.stdout.startswith("/opt/venv/bin/python\n3.11."), python.stderr
    # The runtime ships alone: its own distribution and command, nothing of the builder.
    script = (
        "command -v rpworker && ! command -v rpbuild && python -c 'import importlib.util as u, "
        'importlib.metadata as m; print(m.version("rpworker"), '
        '[n for n in ("builder", "click", "jinja2", "docker") if u.find_spec(n)])\''
    )
    shipped = _docker(docker_builder, "run", "--rm", "--entrypoint", "sh", base["id"], "-c", script)
    assert shipped.stdout == f"/opt/venv/bin/rpworker\n{__version__} []\n", shipped.stderr


def test_base_image_runs_a_command_as_any_image_does(
    docker_builder: engine.Builder, gpu_base: dict[str, Any]
) -> None:
    """Its entrypoint is bare `rpworker`: `docker run BASE ls` runs ls, where it looked for
    a handler file named ls (QA 13); app images do the same (QA 4)."""
    base = _image(gpu_base, "base")["id"]
    listed = _docker(docker_builder, "run", "--rm", "--network", "none", base, "ls", "/opt")
    assert listed.returncode == 0, listed.stderr
    assert "venv" in listed.stdout.split()
    shell = _docker(docker_builder, "run", "--rm", "--network", "none", base, "sh", "-c", "echo hi")
    assert (shell.returncode, shell.stdout) == (0, "hi\n"), shell.stderr
    missing = _docker(docker_builder, "run", "--rm", "--network", "none", base, "no-such-cmd")
    assert missing.returncode == 127
    assert "no-such-cmd: command not found" in missing.stderr


def test_app_image_runs_the_seed_handler_in_test_mode(
    docker_builder: engine.Builder, gpu_base: dict[str, Any], seed_app: Path
) -> None:
    code, payload, output = rpbuild(
        "image", str(seed_app), *base_flags(), "--min-gpus", "2", "-t", "rpbuild-test/seed:e2e"
    )
    assert code == 0, output
    app = _image(payload, "app")
    assert app["tags"] == ["rpbuild-test/seed:e2e"]
    info = engine.inspect(docker_builder, "rpbuild-test/seed:e2e")
    assert info.labels["io.rpbuild.kind"] == "app"
    assert info.labels["io.rpbuild.base"] == _image(payload, "base")["tags"][0]
    assert info.labels["io.rpbuild.cuda"] == "12.1.1"
    assert info.env["RPWORKER_MIN_GPUS"] == "2"
    run = _docker(
        docker_builder,
        "run",
        "--rm",
        "--network",
        "none",
        "rpbuild-test/seed:e2e",
        "--test_input",
        json.dumps({"input": {"prompt": "x"}}),
    )
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    expected = [f"Generated async token output {i}" for i in range(5)]
    assert {"output": expected} in results, run.stdout


def test_a_handler_only_change_rebuilds_only_the_last_layer(
    docker_builder: engine.Builder, gpu_base: dict[str, Any], seed_app: Path
) -> None:
    flags = [*base_flags(), "-t", "rpbuild-test/layers:e2e"]
    code, first, output = rpbuild("image", str(seed_app), *flags)
    assert code == 0, output
    before = engine.inspect(docker_builder, "rpbuild-test/layers:e2e").layers
    handler = seed_app / "handler.py"
    handler.write_text(handler.read_text() + "\n# a handler-only change\n")
    code, second, output = rpbuild("image", str(seed_app), *flags)
    assert code == 0, output
    assert _image(first, "base")["id"] == _image(second, "base")["id"]
    after = engine.inspect(docker_builder, "rpbuild-test/layers:e2e").layers
    assert len(after) == len(before)
    assert after[:-1] == before[:-1]
    assert after[-1] != before[-1]
    assert _cached_steps(output) >= {"RUN", "COPY requirements.txt"}


def _cached_steps(output: str) -> set[str]:
    """The app build's steps BuildKit reported as CACHED, by instruction."""
    titles: dict[str, str] = {}
    cached = set()
    for line in output.split("building the app image")[-1].splitlines():
        number, _, rest = line.partition(" ")
        if rest.startswith("[stage-0"):
            instruction = rest.split("] ", 1)[1]
            titles[number] = (
                "COPY requirements.txt"
                if "requirements.txt /app" in instruction
                else instruction.split()[0]
            )
        elif rest == "CACHED" and number in titles:
            cached.add(titles[number])
    return cached


def test_a_secret_is_usable_in_the_build_and_found_nowhere_in_the_image(
    docker_builder: engine.Builder, gpu_base: dict[str, Any], seed_app: Path, tmp_path: Path
) -> None:
    token = "rpbuild-secret-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:24]
    secret = tmp_path / "token"
    secret.write_text(token)
    template = tmp_path / "custom.Dockerfile.j2"
    template.write_text(
        '{% extends "app.Dockerfile.j2" %}\n'
        "{% block handler %}\n{{ super() }}\n"
        # BuildKit's cache key ignores a secret's content: the nonce makes this step rerun.
        f"RUN --mount=type=secret,id=token echo {uuid.uuid4().hex} && "
        "sha256sum /run/secrets/token > /app/token.sha256\n"
        "{% endblock %}\n"
    )
    tag = "rpbuild-test/secret:e2e"
    code, _, output = rpbuild(
        "image",
        str(seed_app),
        *base_flags(),
        "-t",
        tag,
        "--secret",
        f"id=token,src={secret}",
        "--template",
        str(template),
    )
    assert code == 0, output
    digest = _docker(docker_builder, "run", "--rm", "--entrypoint", "cat", tag, "/app/token.sha256")
    assert digest.stdout.split()[0] == hashlib.sha256(token.encode()).hexdigest()
    saved = subprocess.run(
        [docker_builder.client, "save", tag], capture_output=True, timeout=300, check=True
    )
    assert len(saved.stdout) > 1_000_000
    assert token.encode() not in saved.stdout


def _fake_torch_base(builder: engine.Builder, tmp_path: Path, version_attr: str) -> str:
    """The stand-in plus a local torch index holding a tiny package named torch."""
    index = tmp_path / "context" / "simple" / "torch"
    index.mkdir(parents=True)
    wheel = write_wheel(
        index,
        "torch",
        "2.3.1+cu121",
        {
            "torch/__init__.py": f'__version__ = "{version_attr}"\nfrom torch import version\n',
            "torch/version.py": 'cuda = "12.1"\n',
        },
    )
    (index / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    context = index.parents[1]
    (context / "Dockerfile").write_text(f"FROM {STAND_IN}\nCOPY simple /wheels/simple\n")
    tag = f"rpbuild-test/torch-index:{version_attr.replace('+', '-')}"
    request = engine.BuildRequest(context, context / "Dockerfile", (tag,))
    engine.build(builder, request, lambda line: None)
    return tag


@pytest.mark.parametrize(("version_attr", "expected_code"), [("2.3.1+cu121", 0), ("2.0.0", 1)])
def test_the_truth_check_compares_installed_torch_with_the_tag(
    docker_builder: engine.Builder, tmp_path: Path, version_attr: str, expected_code: int
) -> None:
    base = _fake_torch_base(docker_builder, tmp_path, version_attr)
    flags = [*base_flags(), "--base-image", base, "--torch", "2.3.1"]
    code, payload, output = rpbuild(
        "image",
        *flags,
        "--repository",
        "rpbuild-test/torch",
        "--build-arg",
        "TORCH_INDEX_URL=file:///wheels/simple",
    )
    assert code == expected_code, output
    if expected_code == 0:
        checks = {c["name"]: c for c in _image(payload, "base")["verify"]["checks"]}
        assert checks["torch"]["actual"] == "2.3.1+cu121"
        assert checks["torch.version.cuda"]["actual"] == "12.1"
    else:
        assert payload["ok"] is False
        assert "- torch: expected 2.3.1+cu121, found 2.0.0" in payload["diff"]
        assert "does not match its claims" in output


C_EXTENSION = """
import importlib.util, pathlib, shutil, subprocess, sys, sysconfig, tempfile
source = (
    "#include <Python.h>\\n"
    "static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }\\n"
    "static PyMethodDef methods[] = {{\\"answer\\", answer, METH_NOARGS, 0}, {0}};\\n"
    "static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, \\"stub\\", 0, -1, methods};\\n"
    "PyMODINIT_FUNC PyInit_stub(void) { return PyModule_Create(&module); }\\n"
)
work = pathlib.Path(tempfile.mkdtemp())
(work / "stub.c").write_text(source)
target = work / ("stub" + sysconfig.get_config_var("EXT_SUFFIX"))
compiler = shutil.which("cc") or shutil.which("gcc")
include = sysconfig.get_paths()["include"]
subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-I", include, "-o", str(target),
                str(work / "stub.c")], check=True)
spec = importlib.util.spec_from_file_location("stub", target)
stub = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stub)
print("answer", stub.answer())
"""


def test_an_image_with_torch_compiles_and_imports_a_c_extension_at_run_time(
    docker_builder: engine.Builder, tmp_path: Path
) -> None:
    """What torch.compile (Inductor, Triton) does on first use: cc + Python.h, then import."""
    base = _fake_torch_base(docker_builder, tmp_path, "2.3.1+cu121")
    repository = f"rpbuild-test/torch-compile-{uuid.uuid4().hex[:8]}"
    flags = [*base_flags(), "--base-image", base, "--torch", "2.3.1"]
    code, payload, output = rpbuild(
        "image",
        *flags,
        "--repository",
        repository,
        "--build-arg",
        "TORCH_INDEX_URL=file:///wheels/simple",
    )
    assert code == 0, output
    [tag, *_] = _image(payload, "base")["tags"]
    try:
        done = engine.run_python(docker_builder, tag, C_EXTENSION)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.split() == ["answer", "42"]
    finally:
        _docker(docker_builder, "rmi", *_image(payload, "base")["tags"])


def test_a_failing_step_is_named_with_its_log_tail(
    docker_builder: engine.Builder, gpu_base: dict[str, Any], seed_app: Path
) -> None:
    (seed_app / "requirements.txt").write_text("./no-such-package-here.whl\n")
    code, payload, output = rpbuild(
        "image", str(seed_app), *base_flags(), "-t", "rpbuild-test/fail:e2e"
    )
    assert code == 1, output
    assert payload["ok"] is False
    assert payload["step"].endswith("python -m pip install -r /app/requirements.txt")
    assert "failing step: [stage-0 4/5] RUN" in output
    assert "pip install -r /app/requirements.txt" in output
    assert "no-such-package-here.whl" in output.split("--- log tail ---")[1]


def test_the_classic_client_builds_the_same_base_as_buildx(
    docker_builder: engine.Builder, gpu_base: dict[str, Any], tmp_path: Path
) -> None:
    """DOCKER_BUILDKIT=1 with a pre-23 client (Debian's 20.10 here) is the fallback."""
    old = Path("/usr/bin/docker")
    if not old.is_file():
        pytest.fail("scripts/setup installs Debian's docker.io client at /usr/bin/docker")
    classic = engine.Builder(str(old), (str(old), "build"), (("DOCKER_BUILDKIT", "1"),))
    code, payload, output = rpbuild("image", *base_flags(), "--dry-run")
    assert code == 0, output
    step = payload["images"][0]
    root = tmp_path / "base"
    wheel = Path(os.environ["RPBUILD_RUNTIME_WHEEL"])
    context.base_context(root, wheel, step["dockerfile"], image.RUNTIME_WHEEL)
    secrets = tuple(f"id=ca_bundle,src={f}" for f in base_flags()[-1:] if f.endswith(".crt"))
    request = engine.BuildRequest(
        root, root / "Dockerfile", ("rpbuild-test/classic:e2e",), secrets=secrets
    )
    lines: list[str] = []
    built = engine.build(classic, request, lines.append)
    # By id: the tag is shared with other checkouts building on the same engine.
    same = engine.inspect(docker_builder, _image(gpu_base, "base")["id"]).layers
    assert engine.inspect(docker_builder, built).layers == same
    assert any(line.endswith("CACHED") for line in lines)
