"""Registry credentials, looked up the way CI and `docker login` leave them.

Order: explicit (--username + --password-stdin), then the environment
(RPBUILD_REGISTRY_USERNAME / RPBUILD_REGISTRY_PASSWORD), then the docker config
($DOCKER_CONFIG/config.json or ~/.docker/config.json: credHelpers, credsStore, auths).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from builder.errors import RpbuildError
from builder.registry.reference import DOCKER_HUB

ENV_USERNAME = "RPBUILD_REGISTRY_USERNAME"
ENV_PASSWORD = "RPBUILD_REGISTRY_PASSWORD"
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


class CredentialsError(RpbuildError):
    """The docker config or a credential helper could not give credentials."""


def docker_config_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def resolve_credentials(
    registry: str,
    *,
    username: str | None = None,
    password: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Credentials | None:
    """The credentials for `registry` (host[:port]); None means anonymous."""
    if username is not None:
        password = password if password is not None else env.get(ENV_PASSWORD)
        if password is None:
            raise CredentialsError(
                f"--username needs a password: pipe it to --password-stdin or set {ENV_PASSWORD}"
            )
        return Credentials(username, password)
    if env.get(ENV_USERNAME):
        if ENV_PASSWORD not in env:
            raise CredentialsError(f"{ENV_USERNAME} is set but {ENV_PASSWORD} is not: set both")
        return Credentials(env[ENV_USERNAME], env[ENV_PASSWORD])
    return _from_docker_config(registry, docker_config_path(env))


def _config_keys(registry: str) -> tuple[str, ...]:
    if registry == DOCKER_HUB:
        return _HUB_KEYS
    return (registry, f"https://{registry}", f"http://{registry}")


def _from_docker_config(registry: str, path: Path) -> Credentials | None:
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read the docker config {path}: {exc}") from exc
    keys = _config_keys(registry)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if key in helpers:
            return _from_helper(helpers[key], key)
    auths = config.get("auths") or {}
    for key in keys:
        if key in auths:
            found = _from_auth_entry(auths[key], path, key)
            if found is not None:
                return found
    if config.get("credsStore"):
        return _from_helper(config["credsStore"], keys[0], missing_ok=True)
    return None


def _from_auth_entry(entry: Mapping[str, str], path: Path, key: str) -> Credentials | None:
    if entry.get("username") and entry.get("password"):
        return Credentials(entry["username"], entry["password"])
    if not entry.get("auth"):
        return None  # written by a credential store: the helper has it
    malformed = CredentialsError(f"{path}: auths[{key!r}].auth is not base64 of user:password")
    try:
        user, sep, secret = base64.b64decode(entry["auth"]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise malformed from exc
    if not sep:
        raise malformed
    return Credentials(user, secret)


def _from_helper(helper: str, server: str, *, missing_ok: bool = False) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, "get"], input=server, capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError as exc:
        raise CredentialsError(
            f"the docker config names the credential helper {helper!r} but {program} is not "
            "on PATH: install it or remove it from the docker config"
        ) from exc
    if done.returncode != 0:
        if missing_ok:
            return None
        raise CredentialsError(f"{program} get {server} failed: {done.stdout or done.stderr}")
    answer = json.loads(done.stdout)
    return Credentials(answer["Username"], answer["Secret"])
