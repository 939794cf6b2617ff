"""The tag scheme: every axis, valid Docker tag characters."""

from __future__ import annotations

import re
from dataclasses import replace

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


def test_nvidia_cuda_rows_keep_their_tag() -> None:
    spec = compat.resolve(ImageOptions(cuda="12.1", python="3.11", flavor="runtime"))
    assert tags.base_tag(spec) == (
        f"rpbuild/base:cuda12.1.1-cudnn8-runtime-ubuntu22.04-py3.11-torchnone-rpbuild{__version__}"
    )


def test_each_base_image_gets_its_own_tag_and_none_claims_nvidia_cuda() -> None:
    def base(reference: str | None) -> str:
        options = ImageOptions(cuda="12.1", python="3.11", base_image=reference)
        return tags.base_tag(compat.resolve(options))

    debian, mirror = base("local/debian:bookworm"), base("127.0.0.1:5977/qa-debian:bookworm")
    assert len({debian, mirror, base(None)}) == 3
    assert debian == (
        f"rpbuild/base:custom-{tags.base_id('local/debian:bookworm')}-cuda12.1.1-py3.11"
        f"-torchnone-rpbuild{__version__}"
    )
    assert "ubuntu" not in debian and "cudnn" not in debian
    spec = compat.resolve(ImageOptions(cuda="12.1", python="3.11", base_image="local/x:1"))
    pinned = replace(spec, from_ref=f"local/x:1@sha256:{'0' * 64}")
    assert tags.base_tag(pinned) == tags.base_tag(spec), "a lock pin keeps the tag"
    assert VALID_TAG.match(debian.split(":", 1)[1])
