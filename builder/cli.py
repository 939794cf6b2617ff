"""The ``rpbuild`` command line: a thin click layer over the library functions.

Each command lives in its own module and registers here with one ``add_command``.
"""

from __future__ import annotations

import click

from builder import __version__
from builder.cmd_gpu_check import gpu_check
from builder.cmd_image import image


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rpbuild")
def main() -> None:
    """Build GPU container images for serverless inference workers."""


main.add_command(image)
main.add_command(gpu_check)
