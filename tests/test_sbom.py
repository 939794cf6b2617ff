"""The SBOM: package records read the way inventory.py reads them in an image, and the
CycloneDX document made from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.build import inventory, sbom

STATUS = """\
Package: libc6
Status: install ok installed
Architecture: arm64
Version: 2.36-9+deb12u4
Description: GNU C Library
 a continuation line: Version: 0

Package: removed-tool
Status: deinstall ok config-files
Architecture: arm64
Version: 1.0

Package: python3.11
Status: install ok installed
Architecture: arm64
Version: 3.11.2-6
"""


def test_inventory_lists_only_installed_debian_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = tmp_path / "status"
    status.write_text(STATUS)
    monkeypatch.setattr(inventory, "DPKG_STATUS", status)
    assert inventory.debian_packages() == [
        {"name": "libc6", "version": "2.36-9+deb12u4", "arch": "arm64"},
        {"name": "python3.11", "version": "3.11.2-6", "arch": "arm64"},
    ]


def test_inventory_lists_the_interpreters_python_distributions() -> None:
    names = {package["name"].lower() for package in inventory.python_packages()}
    assert {"pytest", "pyyaml", "rpbuild"} <= names


def test_document_is_cyclonedx_with_purls_for_both_ecosystems() -> None:
    report = {
        "os": {"ID": "ubuntu", "VERSION_ID": "22.04"},
        "deb": [{"name": "libc6", "version": "2.35-0ubuntu3.8", "arch": "amd64"}],
        "python": [{"name": "Torch_Audio", "version": "2.3.1+cu121"}],
    }
    bom = sbom.document("r.example/base:tag", "sha256:" + "a" * 64, report)
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.5"
    assert bom["metadata"]["component"] == {
        "type": "container",
        "name": "r.example/base:tag",
        "version": "sha256:" + "a" * 64,
    }
    assert [c["purl"] for c in bom["components"]] == [
        "pkg:pypi/torch-audio@2.3.1+cu121",
        "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.8?arch=amd64&distro=ubuntu-22.04",
    ]
    assert sbom.python_versions(bom) == {"torch-audio": "2.3.1+cu121"}


def test_the_serial_number_names_the_image_it_describes() -> None:
    one = sbom.document("a", "sha256:" + "1" * 64, {})
    same = sbom.document("a", "sha256:" + "1" * 64, {})
    other = sbom.document("a", "sha256:" + "2" * 64, {})
    assert one["serialNumber"] == same["serialNumber"] != other["serialNumber"]
