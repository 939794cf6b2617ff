"""Publish = push every tag, then prove through the registry API that each tag serves
the pushed digest, and describe the result (for people and as JSON for CI)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from builder import engine
from builder.errors import InputError, Source
from builder.output import Output
from builder.registry.client import DigestLookup, RegistryError
from builder.registry.credentials import Credentials, resolve_credentials
from builder.registry.push import LocalImageMissingError, PushedTag, push_tag
from builder.registry.reference import ImageRef


class DigestMismatchError(RegistryError):
    """A tag in the registry does not serve the digest the engine just pushed."""


@dataclass(frozen=True)
class PublishOptions:
    """How to log in and how hard to retry; shared by `push`, `image --push`, `matrix`."""

    username: str | None = None
    password: str | None = None
    attempts: int = 4
    retry_delay: float = 2.0

    def credentials(self, registry: str) -> Credentials | None:
        return resolve_credentials(registry, username=self.username, password=self.password)


@dataclass(frozen=True)
class PublishResult:
    """What CI keeps: the metadata file's content (`--metadata-file`, `--json`)."""

    image: str
    tags: list[str]
    digest: str
    size: int
    labels: dict[str, str]
    image_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _local_image(sdk: engine.Sdk, refs: Sequence[ImageRef]) -> engine.LocalImage:
    images = {}
    for ref in refs:
        found = sdk.image(str(ref))
        if found is None:
            raise LocalImageMissingError(
                f"no local image {ref}: build it first or fix the tag (see `docker images`)"
            )
        images[str(ref)] = found
    ids = {image.id for image in images.values()}
    if len(ids) > 1:
        raise InputError(
            "the references name different local images; publish them in separate calls: "
            + ", ".join(f"{ref} ({image.short_id})" for ref, image in images.items()),
            Source("REF"),
        )
    return next(iter(images.values()))


def verify_pushed(pushed: Sequence[PushedTag], options: PublishOptions) -> None:
    """HEAD every tag's manifest; the registry must name the digest the engine pushed."""
    lookup = DigestLookup(options.credentials)
    for tag in pushed:
        served = lookup(tag.ref)
        if served != tag.digest:
            raise DigestMismatchError(
                f"{tag.ref} serves {served} but the push produced {tag.digest}: another push "
                "moved the tag meanwhile, or a proxy rewrote the manifest; push again"
            )


def publish(
    refs: Sequence[ImageRef],
    options: PublishOptions,
    out: Output | None = None,
    sdk: engine.Sdk | None = None,
) -> PublishResult:
    """Push all `refs` (tags of one local image), verify them, and describe the result.

    ``out`` shows each layer's progress and every retry."""
    if not refs:
        raise InputError("nothing to publish: name at least one image tag")
    sdk = sdk or engine.sdk()
    image = _local_image(sdk, refs)
    pushed = [
        push_tag(
            sdk,
            ref,
            options.credentials(ref.registry),
            attempts=options.attempts,
            retry_delay=options.retry_delay,
            on_line=out.pushed if out else None,
            on_retry=(lambda n, e: out.warn(_retrying(n, e))) if out else None,
        )
        for ref in refs
    ]
    verify_pushed(pushed, options)
    return PublishResult(
        image=refs[0].name,
        tags=[str(ref) for ref in refs],
        digest=pushed[0].digest,
        size=image.size,
        labels=image.labels,
        image_id=image.id,
    )


def _retrying(attempt: int, error: Exception) -> str:
    return f"transient failure (attempt {attempt}), retrying: {error}"


def summary(result: PublishResult) -> str:
    """Human summary: the digest once, then every tag that now serves it."""
    lines = [f"published {result.image}@{result.digest} ({result.size / 1e6:.1f} MB)"]
    lines += [f"  {tag}  verified" for tag in result.tags]
    return "\n".join(lines)


def write_metadata(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
