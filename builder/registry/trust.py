"""Check a published image from the registry alone, without pulling it: its signature,
its SBOM attestation, and that its labels tell the truth about it.

What is checked, per image (each platform's of a manifest list, and the list itself):
the cosign signature of its digest; the CycloneDX SBOM attested for it; its config's
claim labels (``io.rpbuild.*``) against its tag, its architecture and the SBOM's
packages (the runtime and torch the labels claim must be the ones the SBOM lists).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.build import labels, runtime_wheel, sbom, tags
from builder.build.verify import Check
from builder.errors import RpbuildError
from builder.registry import signing
from builder.registry.client import RegistryClient
from builder.registry.credentials import Credentials
from builder.registry.reference import ImageRef

_ATTESTATION_PLATFORM = "unknown"


class TrustError(RpbuildError):
    """A signed image's labels contradict its tag, its platform or its SBOM."""

    def __init__(self, image: str, diff: Sequence[str]) -> None:
        self.image = image
        self.diff = list(diff)
        super().__init__(
            f"{image} is signed but does not hold what it claims:\n" + "\n".join(self.diff)
        )

    def details(self) -> dict[str, Any]:
        return {**super().details(), "image": self.image, "diff": self.diff}


@dataclass(frozen=True)
class ImageReport:
    platform: str | None
    digest: str
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "digest": self.digest,
            "checks": [check.as_dict() for check in self.checks],
        }


@dataclass
class TrustReport:
    ref: str
    digest: str
    images: list[ImageReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for image in self.images for check in image.checks)

    def diff(self) -> list[str]:
        return [
            f"- {image.platform or 'image'}: {c.name}: expected {c.expected}, found {c.actual}"
            for image in self.images
            for c in image.checks
            if not c.ok
        ]

    def as_dict(self) -> dict[str, Any]:
        images = [image.as_dict() for image in self.images]
        return {"ok": self.ok, "ref": self.ref, "digest": self.digest, "images": images}


def _children(digest: str, manifest: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """(platform, digest) of each image: a list's platform images, else the image itself."""
    if "manifests" not in manifest:
        return [(None, digest)]
    found: list[tuple[str | None, str]] = []
    for entry in manifest["manifests"]:
        platform = entry.get("platform") or {}
        if platform.get("architecture", _ATTESTATION_PLATFORM) != _ATTESTATION_PLATFORM:
            found.append((f"{platform.get('os')}/{platform['architecture']}", entry["digest"]))
    return found


def checks(
    tag: str | None, platform: str | None, config: Mapping[str, Any], bom: Mapping[str, Any]
) -> list[Check]:
    """Pure: what an image's config and SBOM must agree on."""
    found = (config.get("config") or {}).get("Labels") or {}

    def label(axis: str) -> str:
        return str(found.get(labels.PREFIX + axis, "none"))

    packages = sbom.python_versions(bom)
    result = [
        Check("SBOM lists packages", "yes", "yes" if bom.get("components") else "none"),
        Check("SBOM runtime", label("runtime-version"), packages.get(runtime_wheel.DIST, "none")),
        Check("SBOM torch", label("torch"), packages.get("torch", "none")),
    ]
    if tag and "-rpbuild" in tag:
        expected = tags.axes_of(found)
        result.append(Check("tag", expected, expected if expected in tag else tag))
    if platform is not None:
        wanted = tags.arch(platform)
        result.append(Check("architecture", wanted, str(config.get("architecture", "none"))))
    return result


def verify_published(
    ref: ImageRef,
    verifier: signing.Verifier,
    credentials: Credentials | None,
    env: Mapping[str, str] | None = None,
) -> TrustReport:
    """Check ``ref`` in its registry; raise when a signature, an SBOM or a claim fails."""
    client = RegistryClient(ref.registry, credentials)
    digest, manifest = client.manifest(ref)
    top = ImageRef(ref.registry, ref.repository, None, digest)
    signing.verify_signature(top, verifier, env)
    report = TrustReport(str(ref), digest)
    for platform, child in _children(digest, manifest):
        pinned = ImageRef(ref.registry, ref.repository, None, child)
        if platform is not None:
            signing.verify_signature(pinned, verifier, env)
        bom = signing.sbom(pinned, verifier, env)
        own = manifest if platform is None else client.manifest(pinned)[1]
        config = client.blob_json(pinned, own["config"]["digest"])
        report.images.append(
            ImageReport(platform, child, tuple(checks(ref.tag, platform, config, bom)))
        )
    if not report.ok:
        raise TrustError(str(ref), report.diff())
    return report
