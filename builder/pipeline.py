"""The pipelines behind the commands: build -> verify -> publish, matrix rows, locking.

Each command makes one call here with its resolved options; progress and human
results go to the command's :class:`~builder.output.Output`, and the JSON result
is returned for the command to print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from builder.build import image
from builder.build.matrix import Matrix, MatrixRow
from builder.build.options import ResolvedOptions, resolve_options, resolve_spec
from builder.build.spec import BaseSpec, ImageOptions
from builder.errors import InputError
from builder.output import BuildSteps, Output
from builder.registry.client import DigestLookup
from builder.registry.lock import LockFile, lock_bases, read_lock, write_lock
from builder.registry.pinning import Pinning, checked_spec, pinned_spec
from builder.registry.publish import (
    PublishOptions,
    publish,
    publish_platforms,
    summary,
    write_metadata,
)
from builder.registry.reference import parse_ref
from rpworker.weights import human_size


@dataclass(frozen=True)
class Delivery:
    """What surrounds a build: the lock file, pushing, the metadata file of a push."""

    pinning: Pinning = field(default_factory=Pinning)
    push: bool = False
    metadata_file: Path | None = None
    publish: PublishOptions = field(default_factory=PublishOptions)

    def check(self) -> None:
        """Refuse, before any build, the options that only describe a push."""
        for name, value in (("--metadata-file", self.metadata_file), ("--sign", self.publish.sign)):
            if value is not None and not self.push:
                raise InputError(f"{name} describes a push: add --push")

    def lookup(self) -> DigestLookup:
        return DigestLookup(self.publish.credentials)


def plan_images(resolved: ResolvedOptions, pinning: Pinning) -> list[image.Plan]:
    """The images and Dockerfiles a build would make, one plan per platform (bases pinned
    without the registry)."""
    spec = pinned_spec(resolve_spec(resolved), resolved.options.directory, pinning)
    return [plan for _, plan in image.platform_plans(resolved.options, spec)[1]]


def plan_image(resolved: ResolvedOptions, pinning: Pinning) -> image.Plan:
    """The plan of the first (or only) platform."""
    return plan_images(resolved, pinning)[0]


def build_image(resolved: ResolvedOptions, delivery: Delivery, out: Output) -> dict[str, Any]:
    """Build (and verify) the image, then publish it when asked; the JSON result."""
    delivery.check()
    options = resolved.options
    spec = checked_spec(
        _warned(resolve_spec(resolved), out),
        options.directory,
        delivery.pinning,
        delivery.lookup(),
        out.warn,
    )
    result = _build(options, spec, out)
    published = _publish(result.tags, delivery, out, result.platforms, options.context)
    if delivery.metadata_file is not None and published:
        write_metadata(delivery.metadata_file, published["publish"])
    return {**result.as_dict(), **published}


def _warned(spec: BaseSpec, out: Output) -> BaseSpec:
    for text in spec.warnings:
        out.warn(text)
    return spec


def _build(options: ImageOptions, spec: BaseSpec, out: Output) -> image.BuildResult:
    result = image.build(options, spec, BuildSteps(out))
    if not out.json:
        for built in result.images:
            status = "verified" if built.verify else "not verified (--no-verify)"
            out.line(f"{built.kind}: {' '.join(built.tags)} {built.id[:19]} {status}")
        out.line(layer_table(result.images[-1]))
    return result


def layer_table(built: image.BuiltImage, width: int = 72) -> str:
    """Each layer that holds files, its size and instruction, then the image's total."""
    rows = [
        f"{human_size(layer.size):>9}  {' '.join(layer.created_by.split())[:width] or '(base)'}"
        for layer in built.layers
        if layer.size
    ]
    return "\n".join([f"layers of {built.tags[0]}:", *rows, f"{human_size(built.size):>9}  total"])


def _publish(
    tags: Sequence[str],
    delivery: Delivery,
    out: Output,
    platforms: Mapping[str, Sequence[str]] | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """Publish ``tags`` from the engine of ``context``; with ``platforms`` (platform ->
    local tags of its image), as the manifest list of those images."""
    if not delivery.push:
        return {}
    settings = replace(delivery.publish, context=context)
    refs = [parse_ref(tag) for tag in tags]
    if platforms:
        each = {name: [parse_ref(tag) for tag in local] for name, local in platforms.items()}
        result = publish_platforms(refs, each, settings, out)
    else:
        result = publish(refs, settings, out)
    if not out.json:
        out.line(summary(result))
    return {"publish": result.to_json()}


def publish_refs(refs: Sequence[str], delivery: Delivery, out: Output) -> dict[str, Any]:
    """`rpbuild push`: publish tags already built; the publish result."""
    published = _publish(refs, delivery, out)["publish"]
    if delivery.metadata_file is not None:
        write_metadata(delivery.metadata_file, published)
    return dict(published)


def build_rows(
    matrix: Matrix,
    rows: Sequence[MatrixRow],
    flags: Mapping[str, Any],
    delivery: Delivery,
    out: Output,
) -> list[dict[str, Any]]:
    """Build each row as `rpbuild image` would, with ``flags`` over the row's axes; the
    metadata file gets one publish result per row."""
    delivery.check()
    results: list[dict[str, Any]] = []
    lookup = delivery.lookup()
    for number, row in enumerate(rows, 1):
        out.info(f"row {number}/{len(rows)}: {row.name}")
        tags = row.tags(matrix.registry, matrix.repository)
        resolved = resolve_options(
            matrix.directory, {**flags, "tags": tuple(tags)}, row.layer(matrix)
        )
        spec = checked_spec(
            _warned(resolve_spec(resolved), out), Path("."), delivery.pinning, lookup, out.warn
        )
        built = _build(resolved.options, spec, out)
        published = _publish(built.tags, delivery, out, built.platforms, resolved.options.context)
        results.append({"name": row.name, **built.as_dict(), **published})
    if delivery.metadata_file is not None:
        write_metadata(delivery.metadata_file, [record["publish"] for record in results])
    return results


def lock(refs: Sequence[str], path: Path, lookup: DigestLookup) -> LockFile:
    """Resolve every base to its current digest and write the lock file at ``path``."""
    updated = lock_bases(refs, read_lock(path), lookup)
    write_lock(path, updated)
    return updated


def moved_bases(path: Path, lookup: DigestLookup) -> dict[str, dict[str, str]]:
    """The locked bases whose tags now serve another digest: {ref: {locked, now}}."""
    current = read_lock(path)
    if current is None:
        raise InputError(f"--check: there is no lock file {path}; run `rpbuild lock`")
    now = lock_bases(current.bases, None, lookup).bases
    return {
        ref: {"locked": digest, "now": now[ref]}
        for ref, digest in current.bases.items()
        if now[ref] != digest
    }
