"""Runs INSIDE a built image (stdlib only): list the installed Debian and Python packages.

The SBOM is made from the image's own records (dpkg's status file, the installed
distributions of the image's ``python``), because the engine's BuildKit is too old for
``--sbom``. Prints one JSON object.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

DPKG_STATUS = Path("/var/lib/dpkg/status")
OS_RELEASE = Path("/etc/os-release")


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def debian_packages() -> list[dict[str, str]]:
    if not DPKG_STATUS.is_file():
        return []
    return [
        {"name": s["Package"], "version": s["Version"], "arch": s.get("Architecture", "")}
        for s in _stanzas(DPKG_STATUS.read_text(encoding="utf-8", errors="replace"))
        if s.get("Status", "").endswith(" installed") and "Package" in s and "Version" in s
    ]


def python_packages() -> list[dict[str, str]]:
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = {"name": name, "version": dist.version}
    return [found[key] for key in sorted(found)]


def os_release() -> dict[str, str]:
    if not OS_RELEASE.is_file():
        return {}
    pairs = (line.partition("=") for line in OS_RELEASE.read_text().splitlines())
    return {key: value.strip('"') for key, sep, value in pairs if sep}


if __name__ == "__main__":
    report = {"os": os_release(), "deb": debian_packages(), "python": python_packages()}
    print(json.dumps(report, sort_keys=True))
