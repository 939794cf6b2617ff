"""`rpbuild push REF...`, and the login/metadata options `image` and `matrix` reuse."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from builder import output
from builder.output import F
from builder.registry.publish import PublishOptions, publish, summary, write_metadata
from builder.registry.reference import parse_ref


def login_options(command: F) -> F:
    """--username / --password-stdin / --retries, folded into one `publish_options` arg."""

    @click.option(
        "--username",
        help="Registry user (else RPBUILD_REGISTRY_USERNAME, else the docker config).",
    )
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the registry password from standard input (else RPBUILD_REGISTRY_PASSWORD).",
    )
    @click.option(
        "--retries",
        type=click.IntRange(0, 10),
        default=3,
        show_default=True,
        help="How often to retry a transient push or registry failure (with backoff).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any, username: str | None, password_stdin: bool, retries: int, **kwargs: Any
    ) -> Any:
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        if password_stdin and username is None:
            raise click.BadParameter("--password-stdin needs --username", param_hint=["--username"])
        kwargs["publish_options"] = PublishOptions(
            username=username,
            password=password,
            attempts=retries + 1,
            on_line=output.push_display(kwargs.get("as_json", False)),
            on_retry=_report_retry,
        )
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _report_retry(attempt: int, error: Exception) -> None:
    click.echo(f"transient failure (attempt {attempt}), retrying: {error}", err=True)


metadata_file_option = click.option(
    "--metadata-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the publish result (image, tags, digest, size, labels) as JSON to this file.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on standard output."
)


push_option = click.option(
    "--push", is_flag=True, help="Push every tag of the result and verify it in the registry."
)


def publish_built(
    tags: Sequence[str],
    push: bool,
    metadata_file: Path | None,
    options: PublishOptions,
    as_json: bool,
) -> dict[str, Any]:
    """After a build: publish its tags when asked; the JSON to merge into the command's."""
    if not push:
        if metadata_file is not None:
            raise click.UsageError("--metadata-file describes a push: add --push")
        return {}
    result = publish([parse_ref(tag) for tag in tags], options)
    if metadata_file is not None:
        write_metadata(metadata_file, result.to_json())
    if not as_json:
        click.echo(summary(result))
    return {"publish": result.to_json()}


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1, required=True)
@login_options
@metadata_file_option
@json_option
def push(
    refs: tuple[str, ...],
    publish_options: PublishOptions,
    metadata_file: Path | None,
    as_json: bool,
) -> None:
    """Push every REF (tags of one local image) and verify each against the registry."""
    published = publish_built(refs, True, metadata_file, publish_options, as_json)
    if as_json:
        click.echo(json.dumps(published["publish"], indent=2, sort_keys=True))
