"""``rpbuild image``: flags (over rpbuild.yaml) into one build, or its plan with --dry-run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from builder.build import image as image_lib
from builder.build.options import load_project, resolve_options
from builder.commands.base import Command, json_option, pass_output
from builder.commands.options import (
    delivery_options,
    engine_options,
    existing_file,
    given_flags,
    project_options,
)
from builder.output import Output
from builder.pipeline import Delivery, build_image, plan_images
from builder.values import shown


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
@project_options
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    callback=_secret_specs,
    metavar="id=..,src=..",
    help="BuildKit secret (repeatable); id=pip_conf is pip's config for every pip install; "
    "run: steps mount the ids they name.",
)
@engine_options
@click.option("--no-cache", is_flag=True, help="Build without the layer cache.")
@click.option("--template", type=existing_file, help="A template extending ours.")
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
        out.result(result)
