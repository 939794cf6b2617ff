"""``rpbuild image``: parse flags into ImageOptions, then plan or build and report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from builder import output
from builder.build import config
from builder.build import image as image_lib
from builder.build.spec import GpuRequirements, ImageOptions
from builder.commands.cmd_push import (
    login_options,
    metadata_file_option,
    publish_built,
    push_option,
)
from builder.errors import RpbuildError
from builder.registry.pinning import lock_options, pinned_base
from builder.registry.publish import PublishOptions

_CAPABILITY = re.compile(r"^\d+\.\d+$")


def _key_values(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} must look like KEY=VALUE", param=param)
        pairs.append((key, rest))
    return tuple(pairs)


def _secret_specs(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        if not fields.get("id") or not (fields.get("src") or fields.get("env")):
            raise click.BadParameter(
                f"{value!r} must look like id=NAME,src=FILE (or id=NAME,env=VAR)", param=param
            )
    return values


def _capability(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _CAPABILITY.match(value):
        raise click.BadParameter(f"{value!r} must look like 8.0 (major.minor)", param=param)
    return value


# Flags that map one to one onto ImageOptions fields of the same name.
_SAME_NAME = (
    "cuda",
    "python",
    "torch",
    "ubuntu",
    "flavor",
    "handler",
    "requirements",
    "repository",
    "base_image",
    "build_args",
    "secrets",
    "ca_bundle",
    "platform",
    "network",
    "no_cache",
    "template",
    "verify",
)


def options_from_flags(params: dict[str, Any]) -> ImageOptions:
    """The one place flags become ImageOptions (a config file can pre-fill ``params``)."""
    return ImageOptions(
        directory=Path(params["directory"]),
        tags=tuple(params["tags"]),
        gpu=GpuRequirements(
            params["min_gpus"], params["min_gpu_memory"], params["min_compute_capability"]
        ),
        **{name: params[name] for name in _SAME_NAME},
    )


def _print_plan(plan: image_lib.Plan, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"dry_run": True, "images": [s.as_dict() for s in plan.steps]}))
        return
    for step in plan.steps:
        click.echo(f"# {step.kind} image: {', '.join(step.tags)}")
        click.echo(step.dockerfile)


def _report(result: image_lib.BuildResult) -> None:
    for built in result.images:
        status = "verified" if built.verify else "not verified (--no-verify)"
        click.echo(f"{built.kind}: {' '.join(built.tags)} {built.id[:19]} {status}")


# The options that choose the base image; `rpbuild lock` reuses them.
BASE_CHOICES = ("cuda", "python", "torch", "ubuntu", "flavor", "base_image")
existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("image")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cuda", metavar="VERSION", help="CUDA release: 12.1 (newest 12.1.x) or 12.1.1.")
@click.option("--python", metavar="X.Y", help="Python in the image [default: per Ubuntu].")
@click.option("--torch", metavar="VERSION", help="torch release to bake in, or none [default].")
@click.option("--ubuntu", metavar="YY.MM", help="Ubuntu of the CUDA base [default: newest].")
@click.option(
    "--flavor",
    type=click.Choice(["base", "runtime", "devel"]),
    help="CUDA image flavor [default: base with torch (no second cuDNN), else runtime].",
)
@click.option("--handler", type=existing_file, help="Handler file [default: DIR/handler.py].")
@click.option(
    "--requirements", type=existing_file, help="pip requirements [default: DIR/requirements.txt]."
)
@click.option("-t", "--tag", "tags", multiple=True, help="Tag for the final image (repeatable).")
@click.option("--repository", help="Repository for the default tags.")
@click.option("--base-image", metavar="REF", help="Start FROM this instead of nvidia/cuda.")
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    callback=_key_values,
    metavar="K=V",
    help="Build argument (e.g. TORCH_INDEX_URL=... for a torch index mirror).",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    callback=_secret_specs,
    metavar="id=..,src=..",
    help="BuildKit secret (repeatable); id=pip_conf is pip's config for every pip install; "
    "run: steps mount the ids they name.",
)
@click.option("--ca-bundle", type=existing_file, help="Extra CA bundle apt and pip trust.")
@click.option("--platform", help="Target platform, e.g. linux/amd64.")
@click.option(
    "--network",
    type=click.Choice(["host", "default"]),
    help="Network of the build's RUN steps (host: reach the machine's loopback and proxies).",
)
@click.option("--no-cache", is_flag=True, help="Build without the layer cache.")
@click.option("--template", type=existing_file, help="A template extending ours.")
@click.option("--min-gpus", type=click.IntRange(min=1), help="Refuse to start with fewer GPUs.")
@click.option(
    "--min-gpu-memory",
    type=click.IntRange(min=1),
    metavar="MB",
    help="Refuse to start with less free GPU memory (MB).",
)
@click.option(
    "--min-compute-capability",
    callback=_capability,
    metavar="X.Y",
    help="Refuse to start on GPUs below this compute capability.",
)
@click.option("--verify/--no-verify", default=True, help="Check the image against its tag.")
@click.option("--dry-run", is_flag=True, help="Print the plan and Dockerfiles; run no docker.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@push_option
@metadata_file_option
@login_options
@lock_options
def image(
    dry_run: bool,
    as_json: bool,
    push: bool,
    metadata_file: Path | None,
    publish_options: PublishOptions,
    lock_file: Path | None,
    locked: bool,
    **params: Any,
) -> None:
    """Build a GPU worker image (an app image when DIR has a handler)."""
    options = config.with_project_defaults(options_from_flags(params))
    from_ref = pinned_base(options, lock_file, locked, publish_options, check=not dry_run)
    if dry_run:
        _print_plan(image_lib.plan(options, from_ref), as_json)
        return
    sink = output.BuildSteps(output.for_command(as_json))
    try:
        result = image_lib.build(options, sink, from_ref)
    except RpbuildError as error:
        if as_json:
            click.echo(json.dumps({"ok": False, **error.details()}))
        raise
    if not as_json:
        _report(result)
    final = result.images[-1].tags
    published = publish_built(final, push, metadata_file, publish_options, as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, **result.as_dict(), **published}))
