"""The ``rpbuild`` command line: a thin click layer over the library functions.

Each command lives in its own module and registers here with one ``add_command``.
"""

from __future__ import annotations

import click

from builder import __version__
from builder.commands.base import Group, verbosity_options
from builder.commands.cmd_data import data
from builder.commands.cmd_gpu_check import gpu_check
from builder.commands.cmd_image import image
from builder.commands.cmd_init import init
from builder.commands.cmd_lock import lock
from builder.commands.cmd_matrix import matrix
from builder.commands.cmd_push import push
from builder.commands.cmd_serve import serve
from builder.commands.cmd_test import test
from builder.commands.cmd_up import up


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rpbuild")
@verbosity_options
def main() -> None:
    """Build GPU container images for serverless inference workers."""


main.add_command(image)
main.add_command(gpu_check)
main.add_command(init)
main.add_command(serve)
main.add_command(test)
main.add_command(up)
main.add_command(push)
main.add_command(lock)
main.add_command(matrix)
main.add_command(data)
