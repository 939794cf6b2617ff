"""`rpbuild gpu-check IMAGE`: the image's own GPU check, in a container given every GPU.

The check is the runtime's (:func:`builder.dev.image_run.run_gpu_check`); this
command streams what it prints and passes its exit status on.
"""

from __future__ import annotations

import sys

import click

from builder.commands.base import Command, json_option, pass_output
from builder.dev.image_run import run_gpu_check
from builder.output import Output


@click.command("gpu-check", cls=Command)
@click.argument("image")
@click.option(
    "--cuda",
    metavar="X.Y",
    help="CUDA version to check the driver against [default: the image's own].",
)
@json_option
@pass_output
def gpu_check(out: Output, image: str, cuda: str | None) -> None:
    """Run IMAGE's GPU check (`rpworker gpu-check`) with every GPU of this host: driver
    against the image's CUDA, GPU health, requirements. Exits 0 when healthy, 1 when not.
    With --json the check prints its JSON instead of a table."""
    check_args = (["--cuda", cuda] if cuda else []) + (["--json"] if out.json else [])
    sys.exit(run_gpu_check(image, check_args, out))
