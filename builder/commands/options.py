"""Options several commands share, each declared once and folded into a library object."""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from builder.commands.base import F
from builder.pipeline import Delivery
from builder.registry.lock import LOCK_FILE
from builder.registry.pinning import Pinning
from builder.registry.publish import PublishOptions
from builder.values import MAJOR_MINOR, matches, shown

_NOT_GIVEN = (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


def given_flags(ctx: click.Context) -> dict[str, Any]:
    """The command's options set on its command line (or by env var), by name: what
    :func:`builder.build.options.resolve_options` puts above rpbuild.yaml."""
    return {
        name: value
        for name, value in ctx.params.items()
        if ctx.get_parameter_source(name) not in _NOT_GIVEN
    }


existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)

matrix_file_option = click.option(
    "--matrix-file",
    type=existing_file,
    help="Matrix file [default: the one rpbuild ships, images/matrix.yaml].",
)

metadata_file_option = click.option(
    "--metadata-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the publish result (image, tags, digest, size, labels) as JSON to this file.",
)

push_option = click.option(
    "--push", is_flag=True, help="Push every tag of the result and verify it in the registry."
)

sign_option = click.option(
    "--sign",
    metavar="KEY",
    help="Sign each pushed digest with cosign and attach its SBOM: a cosign key (a file, "
    "env://VAR, a KMS URI; its password in COSIGN_PASSWORD), or `keyless` for the CI's "
    "identity.",
)


def engine_options(command: F) -> F:
    """Where and how BuildKit builds: builder, engine (context) and cache."""
    for option in reversed(
        [
            click.option("--builder", metavar="NAME", help="The buildx builder to build with."),
            click.option(
                "--context", metavar="NAME", help="The docker context (engine) to build on."
            ),
            click.option(
                "--cache-from",
                multiple=True,
                metavar="SPEC",
                help="BuildKit cache source, e.g. type=registry,ref=REPO:TAG (repeatable).",
            ),
            click.option(
                "--cache-to",
                multiple=True,
                metavar="SPEC",
                help="BuildKit cache export: type=inline with the docker driver; "
                "type=registry,... with a docker-container or remote builder (repeatable).",
            ),
        ]
    ):
        command = option(command)
    return command


def base_options(command: F) -> F:
    """The options that choose the base image (`image` and `lock` take the same)."""
    for option in reversed(
        [
            click.option(
                "--cuda", metavar="VERSION", help="CUDA release: 12.1 (newest 12.1.x) or 12.1.1."
            ),
            click.option(
                "--python", metavar="X.Y", help="Python in the image [default: per Ubuntu]."
            ),
            click.option(
                "--torch", metavar="VERSION", help="torch release to bake in, or none [default]."
            ),
            click.option(
                "--ubuntu", metavar="YY.MM", help="Ubuntu of the CUDA base [default: newest]."
            ),
            click.option(
                "--flavor",
                type=click.Choice(["base", "runtime", "devel"]),
                help="CUDA image flavor [default: base with torch (no 2nd cuDNN), else runtime].",
            ),
        ]
    ):
        command = option(command)
    return command


def base_image_option(command: F) -> F:
    return click.option(
        "--base-image", metavar="REF", help="Start FROM this instead of nvidia/cuda."
    )(command)


def _key_values(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{shown(value)} must look like KEY=VALUE", param=param)
        pairs.append((key, rest))
    return tuple(pairs)


def _capability(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not matches(MAJOR_MINOR, value):
        raise click.BadParameter(f"{shown(value)} must look like 8.0 (major.minor)", param=param)
    return value


def project_options(command: F) -> F:
    """The flags rpbuild.yaml's keys stand for: `image` builds with them, and `test` takes
    the same to find the image that build makes (one set of flags serves both)."""
    for option in reversed(
        [
            base_options,
            click.option(
                "--handler", type=existing_file, help="Handler file [default: DIR/handler.py]."
            ),
            click.option(
                "--requirements",
                type=existing_file,
                help="pip requirements [default: DIR/requirements.txt].",
            ),
            click.option(
                "-t", "--tag", "tags", multiple=True, help="Tag for the final image (repeatable)."
            ),
            click.option("--repository", help="Repository for the default tags."),
            base_image_option,
            click.option(
                "--build-arg",
                "build_args",
                multiple=True,
                callback=_key_values,
                metavar="K=V",
                help="Build argument (e.g. TORCH_INDEX_URL=... for a torch index mirror).",
            ),
            click.option(
                "--ca-bundle", type=existing_file, help="Extra CA bundle apt and pip trust."
            ),
            click.option(
                "--platform",
                help="Target platform(s): linux/amd64, linux/arm64, or both comma-separated (one "
                "image per platform, tagged TAG-ARCH; --push makes TAG their manifest list).",
            ),
            click.option(
                "--network",
                type=click.Choice(["host", "default"]),
                help="Network of the build's RUN steps (host: reach the machine's loopback and "
                "proxies).",
            ),
            click.option(
                "--min-gpus", type=click.IntRange(min=1), help="Refuse to start with fewer GPUs."
            ),
            click.option(
                "--min-gpu-memory",
                type=click.IntRange(min=1),
                metavar="MB",
                help="Refuse to start with less free GPU memory (MB).",
            ),
            click.option(
                "--min-compute-capability",
                callback=_capability,
                metavar="X.Y",
                help="Refuse to start on GPUs below this compute capability.",
            ),
            click.option("--user", metavar="NAME", help="Run the worker as this non-root user."),
        ]
    ):
        command = option(command)
    return command


def login_options(command: F) -> F:
    """--username / --password-stdin / --retries, folded into one `publish_options` arg."""

    @click.option(
        "--username",
        help="Registry user (else RPBUILD_REGISTRY_USERNAME, else the docker config).",
    )
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the registry password from standard input (else RPBUILD_REGISTRY_PASSWORD).",
    )
    @click.option(
        "--retries",
        type=click.IntRange(0, 10),
        default=3,
        show_default=True,
        help="How often to retry a transient push or registry failure (with backoff).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any, username: str | None, password_stdin: bool, retries: int, **kwargs: Any
    ) -> Any:
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        if password_stdin and username is None:
            raise click.BadParameter("--password-stdin needs --username", param_hint=["--username"])
        kwargs["publish_options"] = PublishOptions(
            username=username, password=password, attempts=retries + 1
        )
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def lock_options(command: F) -> F:
    """--lock-file and --locked, folded into one `pinning` arg."""

    @click.option(
        "--lock-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Lock file pinning the bases [default: DIR/{LOCK_FILE}, used when present].",
    )
    @click.option(
        "--locked",
        is_flag=True,
        help="Fail when a base is missing from the lock file or its tag moved.",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, lock_file: Path | None, locked: bool, **kwargs: Any) -> Any:
        kwargs["pinning"] = Pinning(lock_file, locked)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def delivery_options(command: F) -> F:
    """--push, --sign, --metadata-file, the login and the lock file options: one
    `delivery` arg."""

    @push_option
    @sign_option
    @metadata_file_option
    @login_options
    @lock_options
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        push: bool,
        sign: str | None,
        metadata_file: Path | None,
        publish_options: PublishOptions,
        pinning: Pinning,
        **kwargs: Any,
    ) -> Any:
        publish = dataclasses.replace(publish_options, sign=sign)
        kwargs["delivery"] = Delivery(pinning, push, metadata_file, publish)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
