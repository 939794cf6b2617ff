"""`rpbuild gpu-check IMAGE`: the image's own GPU check, in a container given every GPU.

The check itself is the runtime's (``rpworker gpu-check``), so a host is judged
by exactly the code that will judge it in production. This command only starts
the container (through :mod:`builder.engine`, which turns an engine without GPU
support into an error naming the fix), streams what the check prints and passes
its exit status on.
"""

from __future__ import annotations

import sys

import click

from builder import engine
from builder.errors import RpbuildError

_NOT_FOUND = 127
"""The container's status when its entrypoint does not exist."""


def run_check(image: str, check_args: list[str]) -> int:
    """Run the check in IMAGE; its output streams through, its exit status is returned."""
    options = ["--gpus", "all", "--entrypoint", "rpworker"]
    status = engine.run_container(image, ["gpu-check", *check_args], click.echo, options)
    if status == _NOT_FOUND:
        raise RpbuildError(
            f"{image} has no `rpworker` command: check an image built with `rpbuild image`"
        )
    return status


@click.command("gpu-check")
@click.argument("image")
@click.option(
    "--cuda",
    metavar="X.Y",
    help="CUDA version to check the driver against [default: the image's own].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the check's JSON instead of a table.")
def gpu_check(image: str, cuda: str | None, as_json: bool) -> None:
    """Run IMAGE's GPU check (`rpworker gpu-check`) with every GPU of this host: driver
    against the image's CUDA, GPU health, requirements. Exits 0 when healthy, 1 when not."""
    check_args = (["--cuda", cuda] if cuda else []) + (["--json"] if as_json else [])
    sys.exit(run_check(image, check_args))
