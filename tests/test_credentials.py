"""Where registry credentials come from: flags, environment, docker config, helpers."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from builder.registry.credentials import Credentials, CredentialsError, resolve_credentials

HOST = "127.0.0.1:5000"


def _config(tmp_path: Path, data: dict[str, object]) -> dict[str, str]:
    (tmp_path / "config.json").write_text(json.dumps(data))
    return {"DOCKER_CONFIG": str(tmp_path)}


def test_explicit_beats_environment_beats_config(tmp_path: Path) -> None:
    auth = base64.b64encode(b"cfg:cfgpw").decode()
    env = {
        **_config(tmp_path, {"auths": {HOST: {"auth": auth}}}),
        "RPBUILD_REGISTRY_USERNAME": "envuser",
        "RPBUILD_REGISTRY_PASSWORD": "envpw",
    }
    explicit = resolve_credentials(HOST, username="me", password="pw", env=env)
    assert explicit == Credentials("me", "pw")
    assert resolve_credentials(HOST, username="me", env=env) == Credentials("me", "envpw")
    assert resolve_credentials(HOST, env=env) == Credentials("envuser", "envpw")
    config_only = {"DOCKER_CONFIG": env["DOCKER_CONFIG"]}
    assert resolve_credentials(HOST, env=config_only) == Credentials("cfg", "cfgpw")
    assert resolve_credentials("other.example:5000", env=config_only) is None
    assert repr(explicit) == "Credentials(username='me', password=***)"


def test_half_given_credentials_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="--password-stdin"):
        resolve_credentials(HOST, username="me", env={})
    with pytest.raises(CredentialsError, match="RPBUILD_REGISTRY_PASSWORD"):
        resolve_credentials(HOST, env={"RPBUILD_REGISTRY_USERNAME": "me"})
    env = _config(tmp_path, {"auths": {HOST: {"auth": base64.b64encode(b"nocolon").decode()}}})
    with pytest.raises(CredentialsError, match="base64 of user:password"):
        resolve_credentials(HOST, env=env)


def test_credential_helper_is_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "bin" / "docker-credential-rpbuildtest"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\nread server\n"
        'printf \'{"ServerURL":"%s","Username":"helper-user","Secret":"%s-secret"}\' '
        '"$server" "$server"\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    env = _config(tmp_path, {"credHelpers": {HOST: "rpbuildtest"}})
    assert resolve_credentials(HOST, env=env) == Credentials("helper-user", f"{HOST}-secret")

    missing = _config(tmp_path, {"credsStore": "absent-helper"})
    with pytest.raises(CredentialsError, match=r"absent-helper not installed .* install it"):
        resolve_credentials(HOST, env=missing)


def test_docker_hub_is_found_under_the_key_docker_login_writes(tmp_path: Path) -> None:
    auth = base64.b64encode(b"hubuser:hubpw").decode()
    env = _config(tmp_path, {"auths": {"https://index.docker.io/v1/": {"auth": auth}}})
    assert resolve_credentials("docker.io", env=env) == Credentials("hubuser", "hubpw")
    assert resolve_credentials(HOST, env=env) is None
