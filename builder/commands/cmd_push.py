"""`rpbuild push REF...`: publish tags already built, as `image --push` does after a build."""

from __future__ import annotations

from pathlib import Path

import click

from builder.commands.base import Command, json_option, pass_output
from builder.commands.options import login_options, metadata_file_option
from builder.output import Output
from builder.pipeline import Delivery, publish_refs
from builder.registry.publish import PublishOptions


@click.command("push", cls=Command)
@click.argument("refs", metavar="REF...", nargs=-1, required=True)
@login_options
@metadata_file_option
@json_option
@pass_output
def push(
    out: Output,
    refs: tuple[str, ...],
    publish_options: PublishOptions,
    metadata_file: Path | None,
) -> None:
    """Push every REF (tags of one local image) and verify each against the registry."""
    delivery = Delivery(push=True, metadata_file=metadata_file, publish=publish_options)
    published = publish_refs(refs, delivery, out)
    if out.json:
        out.result(published)
