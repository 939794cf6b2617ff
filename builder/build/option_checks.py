"""One gate for the options of a build: every value that reaches a Dockerfile or the
build's argv is checked against its full-match grammar before anything is rendered."""

from __future__ import annotations

from typing import Any

import click

from builder.build.spec import ImageOptions
from builder.registry.reference import parse_ref
from builder.values import BUILD_ARG, DEB_PACKAGE, MAJOR_MINOR, is_user, matches, shown


def _refuse(option: str, value: Any, expected: str) -> click.BadParameter:
    return click.BadParameter(f"{shown(value)}: expected {expected}", param_hint=[option])


def _check_ref(option: str, text: str, *, digest: bool = False) -> None:
    try:
        ref = parse_ref(text)
    except click.BadParameter as error:
        raise click.BadParameter(error.format_message(), param_hint=[option]) from error
    if ref.digest and not digest:
        raise _refuse(option, text, "a reference without a digest")


def check_options(options: ImageOptions) -> None:
    """Refuse any value that would reach the Dockerfile or argv outside its grammar.

    rpbuild.yaml's keys are checked as the file loads; this catches the flags and
    every other way options are made (the matrix, the library API).
    """
    if options.base_image is not None:
        _check_ref("--base-image", options.base_image, digest=True)
    if options.repository is not None:
        _check_ref("--repository", f"{options.repository}:latest")
    for tag in options.tags:
        _check_ref("--tag", tag)
    if options.user is not None and not is_user(options.user):
        raise _refuse("--user", options.user, "a non-root user name such as worker")
    for name, _ in options.build_args:
        if not matches(BUILD_ARG, name):
            raise _refuse("--build-arg", name, "a name of letters, digits and _")
    for package in options.system_packages:
        if not matches(DEB_PACKAGE, package):
            raise _refuse("system_packages", package, "an apt package name such as ffmpeg")
    capability = options.gpu.min_compute_capability
    if capability is not None and not matches(MAJOR_MINOR, capability):
        raise _refuse("--min-compute-capability", capability, "major.minor, e.g. 8.0")
