"""`rpbuild gpu-check IMAGE`: the image's own GPU check, in a container given every GPU.

The check itself is the runtime's (``rpworker gpu-check``), so a host is judged
by exactly the code that will judge it in production. This command only starts
the container, streams what the check prints, passes its exit status on, and
turns the engine's own refusals into errors that name the fix.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import click

from builder.errors import DockerUnavailableError, RpbuildError

_ENGINE_FAILED = 125
"""``docker run``'s status when the engine, not the container, failed."""
_NOT_FOUND = 127
"""The container's status when its entrypoint does not exist."""
_CLIENT_LINES = ("docker: ", "Run 'docker run --help'")
"""Lines the docker client writes about itself; held back and reported as one error."""


class NoGpuSupportError(RpbuildError):
    """The Docker engine cannot hand GPUs to containers."""


def command(image: str, check_args: list[str]) -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        raise DockerUnavailableError("no docker client on PATH: install Docker")
    run = [docker, "run", "--rm", "--gpus", "all", "--entrypoint", "rpworker", image]
    return [*run, "gpu-check", *check_args]


def run_check(image: str, check_args: list[str]) -> int:
    """Run the check in IMAGE; its output streams through, its exit status is returned."""
    process = subprocess.Popen(command(image, check_args), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    client_lines = []
    for line in process.stderr:
        if line.startswith(_CLIENT_LINES):
            client_lines.append(line.strip())
        else:
            sys.stderr.write(line)
    status = process.wait()
    engine_said = " ".join(client_lines)
    if status == _ENGINE_FAILED and "could not select device driver" in engine_said:
        raise NoGpuSupportError(
            "this Docker engine cannot give containers a GPU (it has no NVIDIA runtime): "
            "install the NVIDIA Container Toolkit on this host and configure Docker with "
            "`nvidia-ctk runtime configure --runtime=docker`, then restart dockerd; "
            "or run the check on a machine with a GPU"
        )
    if status == _NOT_FOUND and "rpworker" in engine_said:
        raise RpbuildError(
            f"{image} has no `rpworker` command: check an image built with `rpbuild image`"
        )
    if client_lines:
        raise RpbuildError(f"docker could not run {image}: {engine_said}")
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
