"""`rpbuild push` / publish against real local registries through the real engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from builder.commands.cli import main
from builder.commands.cmd_push import push
from builder.registry.client import (
    ManifestUnknownError,
    RegistryAuthError,
    RegistryClient,
    RegistryUnreachableError,
    TransientRegistryError,
)
from builder.registry.push import LocalImageMissingError, classify_push_error
from builder.registry.reference import parse_ref
from builder.registry.retry import TransientError
from tests.fixtures.docker_engine import STAND_IN, base_flags, rpbuild
from tests.fixtures.registry import LocalRegistry

REF = parse_ref("127.0.0.1:5000/team/worker:1.0")


@pytest.mark.parametrize(
    ("message", "kind", "text"),
    [
        ("unauthorized: authentication required", RegistryAuthError, "docker login"),
        ("no basic auth credentials", RegistryAuthError, "--password-stdin"),
        (
            'Get "https://nowhere.invalid/v2/": dial tcp: lookup nowhere.invalid: no such host',
            RegistryUnreachableError,
            "unknown registry host",
        ),
        (
            "dial tcp 127.0.0.1:5000: connect: connection refused",
            RegistryUnreachableError,
            "running",
        ),
        ("tag does not exist: 127.0.0.1:5000/team/worker:1.0", LocalImageMissingError, "build it"),
        ("name unknown: repository name not known to registry", ManifestUnknownError, "create it"),
    ],
)
def test_engine_messages_become_typed_errors(message: str, kind: type, text: str) -> None:
    error = classify_push_error(message, REF)
    assert isinstance(error, kind)
    assert text in str(error)


@pytest.mark.parametrize(
    "message",
    ["received unexpected HTTP status: 503 Service Unavailable", "net/http: TLS handshake timeout"],
)
def test_transient_engine_messages_are_retryable(message: str) -> None:
    error = classify_push_error(message, REF)
    assert isinstance(error, TransientError)
    assert isinstance(error.final, TransientRegistryError)


@pytest.mark.docker
@pytest.mark.registry
def test_push_every_tag_verify_and_write_metadata(registry: LocalRegistry, tmp_path: Path) -> None:
    """The real stand-in base image under two tags: both verified, metadata has it all."""
    client = docker.from_env()
    base = client.images.get("local/debian:bookworm")
    refs = [f"{registry.host}/rpbuild/debian:bookworm", f"{registry.host}/rpbuild/debian:stable"]
    for ref in refs:
        _tag(client, base.id, ref)
    try:
        metadata = tmp_path / "out" / "publish.json"
        result = CliRunner().invoke(push, [*refs, "--metadata-file", str(metadata)])
        assert result.exit_code == 0, result.output
        data = json.loads(metadata.read_text())
    finally:
        for ref in refs:
            client.images.remove(ref)
    assert data["tags"] == refs
    assert data["image"] == f"{registry.host}/rpbuild/debian"
    assert data["size"] == base.attrs["Size"]
    for ref in refs:
        assert RegistryClient(registry.host).manifest_digest(parse_ref(ref)) == data["digest"]
        assert f"{ref}  verified" in result.output
    assert data["digest"] in result.output


def _tag(client: docker.DockerClient, image_id: str, ref: str) -> None:
    name, _, tag = ref.rpartition(":")
    assert client.api.tag(image_id, name, tag)


@pytest.mark.docker
@pytest.mark.registry
def test_json_output_carries_labels(
    registry: LocalRegistry, tiny_image: Callable[..., str]
) -> None:
    ref = tiny_image(f"{registry.host}/rpbuild/labelled:1", labels={"io.rpbuild.kind": "app"})
    result = CliRunner().invoke(push, [ref, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["labels"] == {"io.rpbuild.kind": "app"}
    assert data["digest"].startswith("sha256:")


@pytest.mark.docker
@pytest.mark.registry
def test_auth_registry_password_stdin_env_and_wrong_password(
    auth_registry: LocalRegistry, tiny_image: Callable[..., str]
) -> None:
    assert auth_registry.username and auth_registry.password
    ref = tiny_image(f"{auth_registry.host}/rpbuild/private:1")
    runner = CliRunner()

    wrong = runner.invoke(push, [ref, "--username", "rpbuild", "--password-stdin"], input="bad\n")
    assert wrong.exit_code == 1
    assert "refused the push" in wrong.output and "docker login" in wrong.output

    anonymous = runner.invoke(push, [ref], env={"DOCKER_CONFIG": "/nonexistent"})
    assert anonymous.exit_code == 1
    assert "no basic auth credentials" in anonymous.output

    good = runner.invoke(
        push,
        [ref, "--username", auth_registry.username, "--password-stdin"],
        input=auth_registry.password + "\n",
    )
    assert good.exit_code == 0, good.output

    from_env = runner.invoke(
        push,
        [ref, "--json"],
        env={
            "RPBUILD_REGISTRY_USERNAME": auth_registry.username,
            "RPBUILD_REGISTRY_PASSWORD": auth_registry.password,
        },
    )
    assert from_env.exit_code == 0, from_env.output
    assert json.loads(from_env.output)["tags"] == [ref]


@pytest.mark.docker
@pytest.mark.registry
def test_docker_config_credentials(
    auth_registry: LocalRegistry, tiny_image: Callable[..., str], tmp_path: Path
) -> None:
    import base64

    pair = f"{auth_registry.username}:{auth_registry.password}".encode()
    config = {"auths": {auth_registry.host: {"auth": base64.b64encode(pair).decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    ref = tiny_image(f"{auth_registry.host}/rpbuild/from-config:1")
    result = CliRunner().invoke(push, [ref], env={"DOCKER_CONFIG": str(tmp_path)})
    assert result.exit_code == 0, result.output


@pytest.mark.docker
@pytest.mark.registry
def test_registry_down_fails_fast_with_the_fix(
    dead_registry_host: str, tiny_image: Callable[..., str]
) -> None:
    ref = tiny_image(f"{dead_registry_host}/rpbuild/down:1")
    result = CliRunner().invoke(push, [ref])
    assert result.exit_code == 1
    assert "connection refused" in result.output and "Is it running" in result.output
    assert "retrying" not in result.output


@pytest.mark.docker
@pytest.mark.registry
def test_unknown_local_tag_and_mixed_images(
    registry: LocalRegistry, tiny_image: Callable[..., str]
) -> None:
    missing = CliRunner().invoke(push, [f"{registry.host}/rpbuild/never-built:1"])
    assert missing.exit_code == 1
    assert "no local image" in missing.output

    one = tiny_image(f"{registry.host}/rpbuild/a:1", content="a")
    other = tiny_image(f"{registry.host}/rpbuild/b:1", content="b")
    mixed = CliRunner().invoke(push, [one, other])
    assert mixed.exit_code == 2
    assert "separate calls" in mixed.output


@pytest.mark.docker
@pytest.mark.registry
def test_image_and_matrix_build_push_from_a_locked_base(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    """The whole publishing path: the stand-in base served by a registry and locked,
    `rpbuild image --push` and `rpbuild matrix build --push` FROM its digest."""
    client = docker.from_env()
    base = f"{registry.host}/rpbuild/stand-in:bookworm"
    _tag(client, client.images.get(STAND_IN).id, base)
    assert CliRunner().invoke(push, [base]).exit_code == 0
    client.images.remove(base)  # the build must pull it from the registry, by digest
    project = tmp_path / "project"
    project.mkdir()
    locked = CliRunner().invoke(main, ["lock", str(project), "--base-image", base])
    assert locked.exit_code == 0, locked.output
    digest = RegistryClient(registry.host).manifest_digest(parse_ref(base))

    flags = [*base_flags()]
    flags[flags.index("--base-image") + 1] = base
    tags = [f"{registry.host}/rpbuild/e2e:1", f"{registry.host}/rpbuild/e2e:latest"]
    metadata = tmp_path / "image.json"
    code, payload, output = rpbuild(
        "image", str(project), *flags, "-t", tags[0], "-t", tags[1],
        "--push", "--metadata-file", str(metadata), "--locked",
    )  # fmt: skip
    assert code == 0, output
    published = json.loads(metadata.read_text())
    assert published == payload["publish"]
    assert published["tags"] == tags
    assert published["labels"]["io.rpbuild.base"] == f"{base}@{digest}"
    for tag in tags:
        assert RegistryClient(registry.host).manifest_digest(parse_ref(tag)) == published["digest"]

    matrix_file = tmp_path / "matrix.yaml"
    row = {"name": "stand-in", "cuda": "12.1", "python": "3.11", "torch": "none",
           "ubuntu": "22.04", "flavor": "runtime"}  # fmt: skip
    matrix_file.write_text(json.dumps({"repository": "rpbuild/matrix", "images": [row]}))
    shard = tmp_path / "publish" / "stand-in.json"
    built = CliRunner().invoke(
        main,
        ["matrix", "build", "--matrix-file", str(matrix_file), "--filter", "name=stand-in",
         "--registry", registry.host, "--base-image", base, *flags[flags.index("--ca-bundle"):],
         "--lock-file", str(project / "rpbuild.lock"), "--locked", "--push",
         "--metadata-file", str(shard)],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    (result,) = json.loads(shard.read_text())
    assert result["tags"][1] == f"{registry.host}/rpbuild/matrix:stand-in"
    assert result["labels"]["io.rpbuild.base"] == f"{base}@{digest}"
    assert f"{result['tags'][1]}  verified" in built.output
