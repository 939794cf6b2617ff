"""One gate for the options of a build: every value that reaches a Dockerfile or the
build's argv is checked against its full-match grammar before anything is rendered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.build.spec import ImageOptions
from builder.errors import BadReferenceError, InputError, Source, flag
from builder.registry.reference import parse_ref
from builder.values import (
    BUILD_ARG,
    BUILD_ARG_RULE,
    DEB_PACKAGE,
    FILE_PATTERN,
    HF_REPO,
    IMAGE_PATH,
    MAJOR_MINOR,
    REVISION,
    SECRET_ID,
    SHA256,
    URL,
    is_user,
    matches,
    shown,
)

# Fields whose flag is not named after the field.
_FLAGS = {
    "tags": "--tag",
    "build_args": "--build-arg",
    "system_packages": "system_packages",
    "run_steps": "run",
    "weights": "weights",
}


def check_options(options: ImageOptions, sources: Mapping[str, Source] | None = None) -> None:
    """Refuse any value outside its grammar, naming the flag or file key it came from.

    rpbuild.yaml's keys are checked as the file loads; this catches the flags and
    every other way options are made (the image matrix, the library API).
    """

    def where(field: str) -> Source:
        found = (sources or {}).get(field)
        return found or (Source(_FLAGS[field]) if field in _FLAGS else flag(field))

    def refuse(field: str, value: Any, expected: str) -> InputError:
        return InputError(f"{shown(value)}: expected {expected}", where(field))

    def check_ref(field: str, text: str, *, digest: bool = False, suffix: str = "") -> None:
        try:
            ref = parse_ref(text + suffix)
        except BadReferenceError as error:
            raise InputError(f"{shown(text)}: {error.reason}", where(field)) from error
        if ref.digest and not digest:
            raise refuse(field, text, "a reference without a digest")

    root = options.directory.resolve()
    if options.handler is not None and root not in options.handler.resolve().parents:
        raise InputError(
            f"{options.handler} must be inside the project directory {root}, which is the "
            "build context: move the handler into it, or pass the handler's own directory as DIR",
            where("handler"),
        )
    if options.base_image is not None:
        check_ref("base_image", options.base_image, digest=True)
    if options.repository is not None:
        check_ref("repository", options.repository, suffix=":latest")
    for tag in options.tags:
        check_ref("tags", tag)
    if options.user is not None and not is_user(options.user):
        raise refuse("user", options.user, "a non-root user name such as worker")
    for name, _ in options.build_args:
        if not matches(BUILD_ARG, name):
            raise refuse("build_args", name, BUILD_ARG_RULE)
    for package in options.system_packages:
        if not matches(DEB_PACKAGE, package):
            raise refuse("system_packages", package, "an apt package name such as ffmpeg")
    capability = options.gpu.min_compute_capability
    if capability is not None and not matches(MAJOR_MINOR, capability):
        raise refuse("min_compute_capability", capability, "major.minor, e.g. 8.0")
    given = options.secret_ids()
    for index, step in enumerate(options.run_steps):
        for secret in step.secrets:
            if not matches(SECRET_ID, secret):
                raise refuse("run_steps", secret, f"run[{index}]: a build secret id")
            if secret not in given:
                raise InputError(
                    f"run[{index}] needs the build secret {secret!r}: pass "
                    f"--secret id={secret},src=FILE (or env=VAR)",
                    Source("--secret"),
                )
    for index, source in enumerate(options.weights):
        grammar = {
            "path": (IMAGE_PATH, source.path),
            "url": (URL, source.url),
            "sha256": (SHA256, source.sha256),
            "hf": (HF_REPO, source.hf),
            "revision": (REVISION, source.revision),
            "secret": (SECRET_ID, source.secret),
            **{f"files[{i}]": (FILE_PATTERN, pattern) for i, pattern in enumerate(source.files)},
        }
        for key, (pattern, value) in grammar.items():
            if value is not None and not matches(pattern, value):
                raise refuse("weights", value, f"a valid weights[{index}].{key}")
