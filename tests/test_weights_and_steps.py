"""``weights:`` and ``run:`` in rpbuild.yaml: checked, rendered safely, passed to the build."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.build import compat, config, image, weights
from builder.build.spec import ImageOptions, RunStep, WeightsSource
from builder.commands.cli import main
from builder.errors import InputError
from tests.test_hadolint import hadolint

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello"
DIGEST = "ab" * 32


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "hello"))


def _issues(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / config.FILE_NAME).write_text(text)
    with pytest.raises(config.ProjectConfigError) as caught:
        config.load(tmp_path)
    return [f"{issue.key}: {issue.message}" for issue in caught.value.issues]


def test_weights_and_run_resolve_from_the_file(tmp_path: Path) -> None:
    (tmp_path / config.FILE_NAME).write_text(
        f"""
weights:
  - url: https://example.com/model.bin
    sha256: "{DIGEST.upper()}"
    path: /models/model.bin
  - hf: org/model
    revision: v1.0
    files: ["*.safetensors", unet/]
    path: /models/org
    at: runtime
run:
  - apt-get --version
  - command: git clone https://example.com/x.git /opt/x
    secrets: [git_token]
network: host
"""
    )
    loaded = config.load(tmp_path)
    assert loaded is not None
    assert loaded.weights == (
        WeightsSource("/models/model.bin", url="https://example.com/model.bin", sha256=DIGEST),
        WeightsSource(
            "/models/org",
            hf="org/model",
            revision="v1.0",
            files=("*.safetensors", "unet/"),
            at="runtime",
        ),
    )
    assert loaded.run_steps == (
        RunStep("apt-get --version"),
        RunStep("git clone https://example.com/x.git /opt/x", ("git_token",)),
    )
    assert loaded.network == "host"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{url: 'https://x/m', path: /m}", "weights[0].sha256: is required with url:"),
        (f"{{url: 'https://x/m', sha256: '{DIGEST}'}}", "weights[0]: needs path:"),
        (
            "{hf: org/m, url: 'https://x', path: /m}",
            "weights[0]: needs exactly one of url: and hf:",
        ),
        ("{hf: org/m, path: models}", "weights[0].path: invalid value"),
        ("{hf: org/m, path: /models/../etc}", "weights[0].path: invalid value"),
        ("{hf: 'org/m; rm -rf /', path: /m}", "weights[0].hf: invalid value"),
        ("{hf: org/m, path: /m, revision: '-x'}", "weights[0].revision: invalid value"),
        (f"{{hf: org/m, path: /m, sha256: '{DIGEST}'}}", "weights[0].sha256: does not apply"),
        (f"{{url: 'https://x', sha256: '{DIGEST}', path: /m, files: [a]}}", "weights[0].files"),
        (f"{{url: 'ftp://x', sha256: '{DIGEST}', path: /m}}", "weights[0].url: invalid value"),
        ("{hf: org/m, path: /m, at: later}", "weights[0].at: unknown choice"),
        ("{hf: org/m, path: /m, size: 3}", "weights[0].size: unknown key"),
    ],
)
def test_a_bad_weights_entry_is_named(tmp_path: Path, entry: str, problem: str) -> None:
    (found,) = _issues(tmp_path, f"weights: [{entry}]\n")
    assert found.startswith(problem), found


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ("['  ']", "run[0]: must be a non-empty string"),
        ("[{secrets: [a]}]", "run[0].command: is required"),
        ("[{command: ls, secrets: ['a b']}]", "run[0].secrets[0]: invalid value"),
        ("[{command: ls, env: {A: 1}}]", "run[0].env: unknown key"),
        ("[3]", "run[0]: must be a command or a mapping"),
    ],
)
def test_a_bad_run_step_is_named(tmp_path: Path, steps: str, problem: str) -> None:
    (found,) = _issues(tmp_path, f"run: {steps}\n")
    assert found.startswith(problem), found


def _app(hello: Path, **options: object) -> str:
    chosen = ImageOptions(directory=hello, cuda="12.1", **options)  # type: ignore[arg-type]
    plan = image.plan(chosen, compat.resolve(chosen))
    assert plan.app is not None
    return plan.app.dockerfile


HOSTILE = "echo 'a' \\\nRUN rm -rf / \"$HOME\" \\"


def test_a_run_command_stays_one_instruction_whatever_it_holds(hello: Path) -> None:
    text = _app(hello, run_steps=(RunStep(HOSTILE),))
    (line,) = [line for line in text.splitlines() if line.startswith("RUN [")]
    assert json.loads(line.removeprefix("RUN ")) == ["/bin/sh", "-c", HOSTILE]
    assert "\nRUN rm" not in text


def test_a_step_mounts_only_the_secrets_it_names(hello: Path) -> None:
    text = _app(
        hello,
        run_steps=(RunStep("make", ("token",)), RunStep("ls")),
        secrets=("id=token,src=t", "id=other,env=O"),
    )
    runs = [line for line in text.splitlines() if line.startswith("RUN ") and '"-c"' in line]
    assert runs[0].startswith('RUN --mount=type=secret,id=token ["/bin/sh", "-c", "make"]')
    assert runs[1] == 'RUN ["/bin/sh", "-c", "ls"]'
    assert "id=other" not in text


def test_a_step_naming_a_secret_not_given_is_refused(hello: Path) -> None:
    (hello / config.FILE_NAME).write_text("run: [{command: make, secrets: [token]}]\n")
    result = CliRunner().invoke(main, ["image", str(hello), "--cuda", "12.1", "--dry-run"])
    assert result.exit_code == 2
    assert "run[0] needs the build secret 'token'" in result.output
    assert "--secret id=token,src=FILE" in result.output


def test_weights_layers_come_before_steps_requirements_and_code(hello: Path) -> None:
    text = _app(
        hello,
        weights=(WeightsSource("/m/a.bin", url="https://x/a", sha256=DIGEST),),
        run_steps=(RunStep("make"),),
    )
    order = ["rpworker.weights", '"make"', "pip install -r /app/requirements.txt", "COPY app/"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_fetch_steps_quote_every_value_for_the_shell(hello: Path) -> None:
    source = WeightsSource("/m/a=b@c.bin", url="https://x/a?b=1&c=$(id);'x'", sha256=DIGEST)
    text = _app(hello, weights=(source,))
    (line,) = [line for line in text.splitlines() if "python -m rpworker.weights" in line]
    argv = shlex.split(line)
    assert argv[argv.index("rpworker.weights") + 1 :] == [
        "--cache=/root/.cache/rpbuild-weights",
        "--name=weights[0]",
        "--to=/m/a=b@c.bin",
        "--url=https://x/a?b=1&c=$(id);'x'",
        f"--sha256={DIGEST}",
    ]


def test_hub_entries_mount_the_token_secret_and_take_the_endpoint_as_an_arg(hello: Path) -> None:
    text = _app(hello, weights=(WeightsSource("/m/org", hf="org/m", files=("*.json",)),))
    assert "ARG HF_ENDPOINT\n" in text
    assert "--mount=type=secret,id=HF_TOKEN \\\n" in text
    assert "--token-file=/run/secrets/HF_TOKEN" in text
    hub = (WeightsSource("/m", hf="org/m"),)
    env = {"HF_TOKEN": "hf_x", "HF_ENDPOINT": "http://127.0.0.1:1"}
    assert weights.hub_build_inputs(hub, set(), (), env) == (
        ("id=HF_TOKEN,env=HF_TOKEN",),
        (("HF_ENDPOINT", "http://127.0.0.1:1"),),
    )
    given = weights.hub_build_inputs(hub, {"HF_TOKEN"}, (("HF_ENDPOINT", "x"),), env)
    assert given == ((), ())
    url_only = (WeightsSource("/m", url="https://x", sha256=DIGEST),)
    assert weights.hub_build_inputs(url_only, set(), (), env) == ((), ())


def test_runtime_entries_go_to_the_manifest_not_to_a_layer(hello: Path) -> None:
    sources = (
        WeightsSource("/m/a.bin", url="https://x/a", sha256=DIGEST),
        WeightsSource("/runpod-volume/m", hf="org/m", at="runtime"),
    )
    chosen = ImageOptions(directory=hello, cuda="12.1", weights=sources)
    plan = image.plan(chosen, compat.resolve(chosen))
    assert plan.app is not None
    assert plan.app.dockerfile.count("python -m rpworker.weights") == 1
    assert "COPY rpbuild-weights.json /etc/rpworker/weights.json\n" in plan.app.dockerfile
    ((name, text),) = plan.app.files
    assert name == "rpbuild-weights.json"
    assert json.loads(text) == [
        {
            "name": "weights[1]",
            "path": "/runpod-volume/m",
            "url": None,
            "sha256": None,
            "hf": "org/m",
            "revision": "main",
            "files": [],
            "token_file": None,
        }
    ]


def test_dockerfiles_with_weights_and_steps_pass_hadolint(hello: Path) -> None:
    text = _app(
        hello,
        weights=(
            WeightsSource("/m/a.bin", url="https://x/a", sha256=DIGEST),
            WeightsSource("/m/org", hf="org/m", at="runtime"),
        ),
        run_steps=(RunStep("make\nmake install", ("t",)),),
        secrets=("id=t,src=f",),
        ca_bundle=Path("ca.crt"),
    )
    result = hadolint(text)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "source",
    [
        WeightsSource("/m/a\nRUN id", url="https://x/a", sha256=DIGEST),
        WeightsSource("/m", url="https://x/a b", sha256=DIGEST),
        WeightsSource("/m", hf="org/m", files=("-x",)),
    ],
)
def test_weights_made_without_the_file_are_checked_too(hello: Path, source: WeightsSource) -> None:
    options = ImageOptions(directory=hello, cuda="12.1", weights=(source,))
    with pytest.raises(InputError, match=r"expected a valid weights\[0\]\."):
        image.plan(options, compat.resolve(options))
