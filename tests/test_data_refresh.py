"""`rpbuild data refresh` against real local sources: a registry, a package index, apt indexes."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from builder.build import driver_table
from builder.commands.cli import main
from builder.refresh import sources
from tests.fixtures.registry import LocalRegistry
from tests.fixtures.sources import (
    IMAGES,
    CudaRepository,
    PackageServer,
    packages_gz,
    shipped_releases,
    torch_wheels,
)

pytestmark = pytest.mark.registry


def _shipped(name: str) -> Any:
    return yaml.safe_load((IMAGES / name).read_text())


def _sources(registry: LocalRegistry, server: PackageServer, *, extra_torch: bool = False) -> str:
    """Fill the sources with the facts of the shipped data; returns the repository."""
    repository = CudaRepository(registry)
    for release in shipped_releases():
        repository.push_release(release)
    old = shipped_releases()[4]  # 12.8.1: an older patch and a minor not in the data
    repository.push_release(replace(old, version="12.8.0"))
    repository.push_release(replace(old, version="12.2.2"))
    repository.push(old, ["12.8.1-runtime-ubuntu20.04"])  # no cuDNN image: no row
    torch = _shipped("torch.yaml")["releases"]
    if extra_torch:
        torch = [*torch, {"version": "2.15.1", "indexes": ["cu126", "cu130"], "python": ["3.13"]}]
    torch_wheels(server.root / "whl", torch)
    for ubuntu in _shipped("python.yaml")["ubuntu"]:
        packages_gz(server.root, ubuntu["codename"], ["3.9", *ubuntu["deadsnakes"]])
    return repository.repository


def _refresh(registry: LocalRegistry, server: PackageServer, repository: str, *args: str) -> Result:
    flags = ["--registry", registry.host, "--repository", repository]
    flags += ["--torch-index", server.torch_index, "--deadsnakes", server.deadsnakes]
    return CliRunner().invoke(main, ["data", "refresh", *flags, *args])


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "images"
    shutil.copytree(IMAGES, data)
    table = tmp_path / "cuda_drivers.json"
    shutil.copy2(driver_table.runtime_path(), table)
    return data, table


def test_check_passes_on_the_committed_data(
    registry: LocalRegistry, package_server: PackageServer
) -> None:
    repository = _sources(registry, package_server)
    result = _refresh(registry, package_server, repository, "--check")
    assert result.exit_code == 0, result.output
    assert "the data matches its sources" in result.output
    assert "---" not in result.output


def test_check_exits_1_on_stale_data_with_a_diff_and_writes_nothing(
    registry: LocalRegistry, package_server: PackageServer, tmp_path: Path
) -> None:
    repository = _sources(registry, package_server, extra_torch=True)
    newer = replace(shipped_releases()[5], version="12.9.2")
    CudaRepository(registry, repository).push_release(newer)
    data, table = _copy(tmp_path)
    before = {p.name: p.read_text() for p in data.iterdir()}
    result = _refresh(
        registry,
        package_server,
        repository,
        "--check",
        "--data-dir",
        str(data),
        "--runtime-table",
        str(table),
    )
    assert result.exit_code == 1, result.output
    assert "-  - version: 12.9.1\n+  - version: 12.9.2\n" in result.output
    assert '+  - {version: 2.15.1, indexes: [cu126, cu130], python: ["3.13"]}' in result.output
    assert "CUDA 12.9.2: add its driver" not in result.output  # 12.9.x has drivers
    assert "the data is stale" in result.output
    assert {p.name: p.read_text() for p in data.iterdir()} == before


def test_refresh_writes_the_data_keeping_comments_and_notes(
    registry: LocalRegistry, package_server: PackageServer, tmp_path: Path
) -> None:
    repository = _sources(registry, package_server, extra_torch=True)
    data, table = _copy(tmp_path)
    torch_file = data / "torch.yaml"
    noted = torch_file.read_text().replace(
        "  - {version: 2.15.0, indexes: [cu126, cu130, cu132], python: [",
        '  - {version: 2.15.0, note: "checked by hand", indexes: [cu126, cu130, cu132], python: [',
    )
    torch_file.write_text("# a hand-written comment\n" + noted)
    flags = ["--data-dir", str(data), "--runtime-table", str(table)]
    written = _refresh(registry, package_server, repository, *flags)
    assert written.exit_code == 0, written.output
    text = torch_file.read_text()
    assert text.startswith("# a hand-written comment\n# torch releases")
    assert ', note: "checked by hand"}' in text
    assert "{version: 2.15.1, indexes: [cu126, cu130]" in text
    assert table.read_text() == driver_table.runtime_path().read_text()
    again = _refresh(registry, package_server, repository, "--check", *flags)
    assert again.exit_code == 0, again.output


def test_a_static_pep503_page_is_read_like_torchs_own_index(package_server: PackageServer) -> None:
    page = package_server.root / "whl" / "cu124" / "torch"
    page.mkdir(parents=True)
    name = "torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl"
    (page / "index.html").write_text(f'<a href="/whl/cu124/{name.replace("+", "%2B")}">{name}</a>')
    index = package_server.torch_index.format(index="cu124")
    assert sources.wheel_files(index, "torch") == [name]
    assert sources.wheel_files(index, "nothing") is None
