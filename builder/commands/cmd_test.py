"""`rpbuild test IMAGE`: run a built image on one input, as the platform would.

Without ``--api`` the image runs its test mode (``--test_input``), which prints
one ``{"chunk": ...}`` line per streamed value and the result body last. With
``--api`` the image serves its local API on the host network and the input
goes through ``/run`` and ``/stream`` like a client's request, which also
exercises the HTTP side of the image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from builder import engine
from builder.commands.base import Command, json_option, pass_output
from builder.commands.options import given_flags, project_options
from builder.dev.image_run import project_image, read_input, run_api_mode, run_test_mode
from builder.output import Output

DEFAULT_INPUT = Path("test_input.json")


@click.command("test", cls=Command)
@click.argument("image", required=False)
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Job file ({"input": ...}) [default: ./test_input.json if present, '
    "else the image's own].",
)
@click.option("--api", is_flag=True, help="Send the job through the image's local API.")
@project_options
@json_option
@pass_output
def test(out: Output, image: str | None, input_file: Path | None, api: bool, **_flags: Any) -> None:
    """Run IMAGE on one job, show its streamed chunks and result; exit 1 if the job failed.

    IMAGE defaults to the image `rpbuild image` builds in the current directory with the
    same options (flags over rpbuild.yaml)."""
    ctx = click.get_current_context()
    flags = {name: value for name, value in given_flags(ctx).items() if name in _flags}
    if image is None:
        image = project_image(Path("."), flags)
    elif flags:
        named = ", ".join(max(p.opts, key=len) for p in ctx.command.params if p.name in flags)
        raise click.UsageError(
            f"IMAGE {image} and {named} both choose the image to test: "
            "pass IMAGE, or the options `rpbuild image` was given, not both"
        )
    if input_file is None and DEFAULT_INPUT.is_file():
        input_file = DEFAULT_INPUT
    job = read_input(input_file) if input_file is not None else None
    if api and job is None:
        raise click.UsageError("--api needs a job: pass --input FILE or run in a project directory")
    engine.inspect(engine.find_builder(), image)
    out.info(f"testing {image}" + (" through its local API" if api else ""))
    outcome = (
        run_api_mode(image, job, out) if api and job is not None else run_test_mode(image, job, out)
    )
    text = f"{outcome.status}: {json.dumps(outcome.reported())}"
    out.result(outcome.as_json(image, "api" if api else "test"), text)
    if outcome.status != "COMPLETED":
        raise SystemExit(1)
