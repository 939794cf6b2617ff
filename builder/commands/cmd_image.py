"""``rpbuild image``: flags (over rpbuild.yaml) into one build, or its plan with --dry-run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from builder.build import image as image_lib
from builder.build.options import load_project, resolve_options
from builder.commands.base import Command, json_option, pass_output
from builder.commands.options import (
    base_image_option,
    base_options,
    delivery_options,
    engine_options,
    existing_file,
    given_flags,
)
from builder.output import Output
from builder.pipeline import Delivery, build_image, plan_images
from builder.values import MAJOR_MINOR, matches, shown


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


def _secret_specs(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        if not fields.get("id") or not (fields.get("src") or fields.get("env")):
            raise click.BadParameter(
                f"{shown(value)} must look like id=NAME,src=FILE (or id=NAME,env=VAR)", param=param
            )
    return values


def _capability(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not matches(MAJOR_MINOR, value):
        raise click.BadParameter(f"{shown(value)} must look like 8.0 (major.minor)", param=param)
    return value


def _print_plan(out: Output, plans: list[image_lib.Plan]) -> None:
    for text in plans[0].spec.warnings:
        out.warn(text)
    steps = [step for plan in plans for step in plan.steps]
    if out.json:
        out.result({"dry_run": True, "images": [s.as_dict() for s in steps]})
        return
    for step in steps:
        out.line(f"# {step.kind} image: {', '.join(step.tags)}")
        out.line(step.dockerfile)


@click.command("image", cls=Command)
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@base_options
@click.option("--handler", type=existing_file, help="Handler file [default: DIR/handler.py].")
@click.option(
    "--requirements", type=existing_file, help="pip requirements [default: DIR/requirements.txt]."
)
@click.option("-t", "--tag", "tags", multiple=True, help="Tag for the final image (repeatable).")
@click.option("--repository", help="Repository for the default tags.")
@base_image_option
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
@click.option(
    "--platform",
    help="Target platform(s): linux/amd64, linux/arm64, or both comma-separated (one image "
    "per platform, tagged TAG-ARCH; --push makes TAG their manifest list).",
)
@engine_options
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
@click.option("--user", metavar="NAME", help="Run the worker as this non-root user.")
@click.option("--verify/--no-verify", default=True, help="Check the image against its tag.")
@click.option("--dry-run", is_flag=True, help="Print the plan and Dockerfiles; run no docker.")
@json_option
@delivery_options
@pass_output
def image(out: Output, directory: Path, dry_run: bool, delivery: Delivery, **_flags: Any) -> None:
    """Build a GPU worker image (an app image when DIR has a handler)."""
    flags = given_flags(click.get_current_context())
    resolved = resolve_options(directory, flags, load_project(directory))
    if dry_run:
        _print_plan(out, plan_images(resolved, delivery.pinning))
        return
    result = build_image(resolved, delivery, out)
    if out.json:
        out.result({"ok": True, **result})
