"""The image's SBOM in CycloneDX 1.5 JSON, made from its own package records.

``inventory.py`` runs in the image and lists dpkg's and pip's packages; this module turns
that report into the document attached to the pushed digest, and reads one back for
``rpbuild verify``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import quote

from builder import engine
from builder.errors import RpbuildError

SPEC_VERSION = "1.5"
PREDICATE_TYPE = "cyclonedx"
"""cosign's name for the attestation type (predicate https://cyclonedx.org/bom)."""
_PEP503 = re.compile(r"[-_.]+")


def _pypi_purl(name: str, version: str) -> str:
    return f"pkg:pypi/{_PEP503.sub('-', name).lower()}@{quote(version, safe='+')}"


def _deb_purl(distro: str, release: str, package: Mapping[str, str]) -> str:
    qualifiers = [f"arch={package['arch']}"] if package.get("arch") else []
    qualifiers += [f"distro={distro}-{release}"] if release else []
    purl = f"pkg:deb/{distro}/{package['name']}@{quote(package['version'], safe='+~:')}"
    return f"{purl}?{'&'.join(qualifiers)}" if qualifiers else purl


def document(image: str, digest: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The CycloneDX BOM of ``image@digest`` from an inventory report."""
    os_info = report.get("os") or {}
    distro = str(os_info.get("ID") or "debian")
    release = str(os_info.get("VERSION_ID") or "")
    components = [
        {
            "type": "library",
            "name": package["name"],
            "version": package["version"],
            "purl": _pypi_purl(package["name"], package["version"]),
        }
        for package in report.get("python") or []
    ]
    components += [
        {
            "type": "library",
            "name": package["name"],
            "version": package["version"],
            "purl": _deb_purl(distro, release, package),
        }
        for package in report.get("deb") or []
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{image}@{digest}')}",
        "version": 1,
        "metadata": {
            "component": {"type": "container", "name": image, "version": digest},
            "tools": {"components": [{"type": "application", "name": "rpbuild"}]},
        },
        "components": components,
    }


def python_versions(bom: Mapping[str, Any]) -> dict[str, str]:
    """The Python packages a BOM lists: normalized name -> version."""
    return {
        _PEP503.sub("-", str(c["name"])).lower(): str(c["version"])
        for c in bom.get("components") or []
        if str(c.get("purl", "")).startswith("pkg:pypi/")
    }


def collect(builder: engine.Builder, ref: str, platform: str | None = None) -> dict[str, Any]:
    """The inventory report of the local image ``ref`` (run once, without network)."""
    source = resources.files("builder.build").joinpath("inventory.py").read_text(encoding="utf-8")
    done = engine.run_python(builder, ref, source, platform)
    if done.returncode != 0:
        raise RpbuildError(
            f"could not list the packages of {ref} for its SBOM: `python` in the image "
            f"failed: {done.stderr.strip()[-800:]}"
        )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
