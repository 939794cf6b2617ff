"""The tag scheme: every axis, valid Docker tag characters."""

from __future__ import annotations

import re

from builder import __version__
from builder.build import compat, tags
from builder.build.spec import ImageOptions

VALID_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def test_every_axis_is_in_the_tag() -> None:
    spec = compat.resolve(ImageOptions(cuda="12.1", torch="2.3.1", python="3.11"))
    assert tags.axes(spec) == (
        f"cuda12.1.1-cudnnnone-base-ubuntu22.04-py3.11-torch2.3.1-cu121-rpbuild{__version__}"
    )
    runtime = compat.resolve(ImageOptions(cuda="12.1", torch="2.3.1", flavor="runtime"))
    assert tags.axes(runtime).startswith("cuda12.1.1-cudnn8-runtime-ubuntu22.04-")
    assert tags.base_tag(spec).startswith(f"{tags.BASE_REPOSITORY}:cuda12.1.1-")


def test_every_row_gives_a_valid_tag() -> None:
    data = compat.load()
    for cuda in data.cuda:
        for ubuntu in cuda.ubuntu:
            for flavor in cuda.flavors:
                spec = compat.resolve(ImageOptions(cuda=cuda.version, ubuntu=ubuntu, flavor=flavor))
                assert VALID_TAG.match(tags.axes(spec)), tags.axes(spec)


def test_directory_names_become_repository_names() -> None:
    assert tags.repository_name("My App!") == "my-app"
    assert tags.repository_name("...") == "app"
