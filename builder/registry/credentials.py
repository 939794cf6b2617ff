"""Registry credentials, looked up the way CI and `docker login` leave them.

Order: explicit (--username + --password-stdin), then the environment
(RPBUILD_REGISTRY_USERNAME / RPBUILD_REGISTRY_PASSWORD), then the docker config
($DOCKER_CONFIG/config.json or ~/.docker/config.json: credHelpers, credsStore,
auths), read by the docker SDK's own auth module as `docker login` wrote it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker.auth
import docker.errors

from builder.errors import RpbuildError

ENV_USERNAME = "RPBUILD_REGISTRY_USERNAME"
ENV_PASSWORD = "RPBUILD_REGISTRY_PASSWORD"


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
    return _from_docker_config(registry, docker_config_path(env), env)


def _from_docker_config(registry: str, path: Path, env: Mapping[str, str]) -> Credentials | None:
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():  # a missing helper: the error below names it
            warnings.simplefilter("ignore", UserWarning)
            config = docker.auth.load_config(str(path), credstore_env=dict(env))
            found = docker.auth.resolve_authconfig(config, registry)
    except ValueError as exc:
        raise CredentialsError(
            f"{path}: an auths entry is not base64 of user:password ({exc}): run `docker login`"
        ) from exc
    except docker.errors.DockerException as exc:
        raise CredentialsError(
            f"the docker config {path} names a credential helper that failed ({exc}): "
            "install it, or remove it from the docker config"
        ) from exc
    found = found or {}
    username = found.get("Username") or found.get("username")
    password = found.get("Password") or found.get("password")
    return Credentials(username, password) if username and password else None
