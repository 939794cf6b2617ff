"""Rebuild images/cuda.yaml, torch.yaml and python.yaml from the live sources.

Only the machine-read blocks are rewritten (cuda.yaml ``brands`` and ``releases``,
torch.yaml ``releases``, the ``deadsnakes`` lists of python.yaml); comments, the
hand-kept tables (families, drivers, default, the Ubuntu releases' own facts) and each
record's ``note`` stay. Which releases: the CUDA minors already in the data (their newest
patch) plus any newer minor; torch releases from the data's oldest on, final ones only.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from builder.build import compat, driver_table
from builder.build.compat import version_key
from builder.build.require_cuda import parse as parse_require
from builder.refresh.sources import ARCHITECTURES, Images, SourceError, apt_packages, wheel_files

FILES = ("cuda.yaml", "torch.yaml", "python.yaml")
_TAG = re.compile(r"(\d+\.\d+\.\d+)-(?:(cudnn\d*)-)?(base|runtime|devel)-ubuntu(\d+\.\d+)")
_WHEEL = re.compile(
    r"torch-(\d+\.\d+\.\d+)\+(cu\d+)-cp3(\d+)-cp3\3-(?:manylinux\w*|linux)_x86_64\.whl"
)
_PYTHON_PACKAGE = re.compile(r"python(3\.\d+)")
FLAVORS = ("runtime", "devel")


@dataclass(frozen=True)
class Sources:
    """Where the live facts come from; None means the URL the data itself names."""

    registry: str = "docker.io"
    repository: str = "nvidia/cuda"
    torch_index: str | None = None
    deadsnakes: str | None = None


@dataclass
class Refreshed:
    """The new text of each data file, the runtime's driver table, and what needs a hand."""

    texts: dict[str, str]
    runtime_table: str
    notes: list[str] = field(default_factory=list)


def refresh(directory: Path, sources: Sources) -> Refreshed:
    old = {name: (directory / name).read_text(encoding="utf-8") for name in FILES}
    docs = {name: yaml.safe_load(text) for name, text in old.items()}
    notes: list[str] = []
    images = Images(sources.registry, sources.repository)
    ubuntus = [u["release"] for u in docs["python.yaml"]["ubuntu"]]
    releases, brands = _cuda_releases(images, docs["cuda.yaml"], ubuntus, notes)
    cuda_text = _replace(old["cuda.yaml"], "brands", _brands_block(brands))
    cuda_text = _replace(cuda_text, "releases", _cuda_block(releases))
    index_url = sources.torch_index or docs["torch.yaml"]["index_url"]
    minors = [".".join(r["version"].split(".")[:2]) for r in releases]
    torch = _torch_releases(index_url, docs["torch.yaml"]["releases"], minors, notes)
    deadsnakes = sources.deadsnakes or docs["python.yaml"]["deadsnakes_url"]
    ubuntu = _ubuntu_records(deadsnakes, docs["python.yaml"], notes)
    texts = {
        "cuda.yaml": cuda_text,
        "torch.yaml": _replace(old["torch.yaml"], "releases", _torch_block(torch)),
        "python.yaml": _replace(old["python.yaml"], "ubuntu", _ubuntu_block(ubuntu)),
    }
    data = compat.parse(*(yaml.safe_load(texts[name]) for name in FILES))
    return Refreshed(texts, driver_table.text(data), notes)


def diff(directory: Path, refreshed: Refreshed, runtime_table: Path) -> str:
    """A unified diff of every file the refresh changes (empty when the data is current)."""
    pairs = [(directory / name, refreshed.texts[name]) for name in FILES]
    pairs.append((runtime_table, refreshed.runtime_table))
    chunks: list[str] = []
    for path, new in pairs:
        old = path.read_text(encoding="utf-8")
        chunks += difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            f"a/{path.parent.name}/{path.name}",
            f"b/{path.parent.name}/{path.name}",
        )
    return "".join(chunks)


def write(directory: Path, refreshed: Refreshed, runtime_table: Path) -> None:
    for name in FILES:
        (directory / name).write_text(refreshed.texts[name], encoding="utf-8")
    runtime_table.write_text(refreshed.runtime_table, encoding="utf-8")


# ------------------------------------------------------------------ CUDA releases


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _cuda_releases(
    images: Images, doc: dict[str, Any], ubuntus: list[str], notes: list[str]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    tags: dict[str, set[tuple[str | None, str, str]]] = {}
    for tag in images.tags():
        if match := _TAG.fullmatch(tag):
            tags.setdefault(match[1], set()).add((match[2], match[3], match[4]))
    current = {_minor(r["version"]): r for r in doc["releases"]}
    newest = max(current, key=version_key)
    chosen: dict[str, str] = {}
    for version, found in sorted(tags.items(), key=lambda item: version_key(item[0])):
        minor = _minor(version)
        wanted = minor in current or version_key(minor) > version_key(newest)
        has_cudnn = any(c and f == "runtime" and u in ubuntus for c, f, u in found)
        if wanted and has_cudnn:
            chosen[minor] = version
    notes += [
        f"CUDA {minor}: {images.ref.repository} has no cuDNN runtime image left; dropped"
        for minor in current
        if minor not in chosen
    ]
    brands: dict[str, list[str]] = {name: list(b) for name, b in doc["brands"].items()}
    records = [
        _cuda_record(images, version, tags[version], current.get(_minor(version)), ubuntus, brands)
        for version in sorted(chosen.values(), key=version_key)
    ]
    for version in sorted(chosen.values(), key=version_key):
        unknown = {u for c, f, u in tags[version] if c and u not in ubuntus}
        if unknown:
            notes.append(
                f"CUDA {version} has Ubuntu {', '.join(sorted(unknown))} images: add the "
                "release to python.yaml to build on it"
            )
        if not any(d.startswith(_minor(version) + ".") for d in doc["drivers"]):
            notes.append(
                f"CUDA {version}: add its driver to cuda.yaml `drivers` (CUDA release notes)"
            )
    return records, brands


def _cuda_record(
    images: Images,
    version: str,
    found: set[tuple[str | None, str, str]],
    old: dict[str, Any] | None,
    ubuntus: list[str],
    brands: dict[str, list[str]],
) -> dict[str, Any]:
    cudnn_tags = sorted({c for c, _, _ in found if c})
    old_tag = old["cudnn"]["tag"] if old else None
    tag = (
        old_tag if old_tag in cudnn_tags else ("cudnn" if "cudnn" in cudnn_tags else cudnn_tags[-1])
    )
    ubuntu = [u for u in ubuntus if (tag, "runtime", u) in found]
    flavors = [f for f in FLAVORS if any((tag, f, u) in found for u in ubuntu)]
    newest = ubuntu[-1]
    base = images.env(f"{version}-base-ubuntu{newest}")
    cudnn_env = images.env(f"{version}-{tag}-runtime-ubuntu{newest}")
    require: dict[str, dict[str, Any]] = {}
    for arch in ARCHITECTURES:
        if arch not in base:
            continue
        env = base[arch]
        if env.get("CUDA_VERSION") != version:
            raise SourceError(
                f"{images.ref.repository}:{version}-base-ubuntu{newest} ({arch}) says "
                f"CUDA_VERSION={env.get('CUDA_VERSION')!r}"
            )
        parts = parse_require(env.get("NVIDIA_REQUIRE_CUDA", ""))
        entry: dict[str, Any] = {"branches": list(parts.branches)}
        if parts.branches:
            entry = {"brands": _brand_name(brands, list(parts.brands)), **entry}
        require[arch] = entry
    cudnn_version = next(iter(cudnn_env.values()), {}).get("NV_CUDNN_VERSION", "")
    record: dict[str, Any] = {
        "version": version,
        "ubuntu": ubuntu,
        "flavors": flavors,
        "cudnn": {"version": cudnn_version.split(".")[0] or tag.removeprefix("cudnn"), "tag": tag},
        "require_cuda": require,
    }
    if old and "note" in old:
        record["note"] = old["note"]
    return record


def _brand_name(brands: dict[str, list[str]], wanted: list[str]) -> str:
    for name, listed in brands.items():
        if listed == wanted:
            return name
    name = f"brands{len(brands) + 1}"
    brands[name] = wanted
    return name


# ------------------------------------------------------------------ torch releases


def _torch_releases(
    index_url: str, current: list[dict[str, Any]], cuda_minors: list[str], notes: list[str]
) -> list[dict[str, Any]]:
    indexes = {i for r in current for i in r["indexes"]}
    indexes |= {"cu" + minor.replace(".", "") for minor in cuda_minors}
    oldest = min((r["version"] for r in current), key=version_key)
    wheels: dict[str, dict[str, set[str]]] = {}
    for index in sorted(indexes, key=_index_key):
        files = wheel_files(index_url.format(index=index), "torch")
        if files is None:
            notes.append(f"torch index {index}: not found")
            continue
        for name in files:
            match = _WHEEL.fullmatch(name)
            if match and match[2] == index and version_key(match[1]) >= version_key(oldest):
                wheels.setdefault(match[1], {}).setdefault(index, set()).add(f"3.{match[3]}")
    old = {r["version"]: r for r in current}
    records = []
    for version in sorted(wheels, key=version_key):
        by_index = wheels[version]
        pythons = set.intersection(*by_index.values())
        record: dict[str, Any] = {
            "version": version,
            "indexes": sorted(by_index, key=_index_key),
            "python": sorted(pythons, key=version_key),
        }
        if "note" in old.get(version, {}):
            record["note"] = old[version]["note"]
        records.append(record)
    return records


def _index_key(index: str) -> tuple[int, ...]:
    digits = index.removeprefix("cu")
    return int(digits[:-1]), int(digits[-1])


# ------------------------------------------------------------------ Pythons per Ubuntu


def _ubuntu_records(url: str, doc: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    supported = doc["supported"]
    records = []
    for old in doc["ubuntu"]:
        packages = apt_packages(url.format(codename=old["codename"]))
        if packages is None:
            notes.append(f"deadsnakes has no Ubuntu {old['release']} ({old['codename']})")
            packages = []
        found = {m[1] for p in packages if (m := _PYTHON_PACKAGE.fullmatch(p))}
        extra = [p for p in supported if p in found and p != old["distro_python"]]
        records.append({**old, "deadsnakes": extra})
    return records


# ------------------------------------------------------------------ YAML text


def _replace(text: str, key: str, block: str) -> str:
    """Replace top-level ``key:`` and its indented lines; everything else stays verbatim."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "-")) or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


def _scalar(value: Any) -> str:
    """Versions with one dot would read as floats: quote them; names stay bare."""
    if isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9]*|\d+\.\d+\.\d+", value):
        return value
    return json.dumps(value)


def _flow(value: Any, quote: Callable[[Any], str] = _scalar) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v, quote)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v, quote) for v in value) + "]"
    return quote(value)


def _brands_block(brands: dict[str, list[str]]) -> str:
    return "brands:\n" + "".join(f"  {name}: {_flow(b)}\n" for name, b in brands.items())


def _cuda_block(records: list[dict[str, Any]]) -> str:
    lines = ["releases:"]
    for r in records:
        lines.append(f"  - version: {r['version']}")
        if "note" in r:
            lines.append(f"    note: {json.dumps(r['note'])}")
        lines.append(f"    ubuntu: {_flow(r['ubuntu'], json.dumps)}")
        lines.append(f"    flavors: {_flow(r['flavors'])}")
        lines.append(
            f"    cudnn: {{version: {json.dumps(r['cudnn']['version'])}, tag: {r['cudnn']['tag']}}}"
        )
        lines.append("    require_cuda:")
        lines += [f"      {arch}: {_flow(entry)}" for arch, entry in r["require_cuda"].items()]
    return "\n".join(lines) + "\n"


def _torch_block(records: list[dict[str, Any]]) -> str:
    def line(r: dict[str, Any]) -> str:
        python = _flow(r["python"], json.dumps)
        note = f", note: {json.dumps(r['note'])}" if "note" in r else ""
        indexes = _flow(r["indexes"])
        return f"  - {{version: {r['version']}, indexes: {indexes}, python: {python}{note}}}"

    return "releases:\n" + "".join(line(r) + "\n" for r in records)


def _ubuntu_block(records: list[dict[str, Any]]) -> str:
    return "ubuntu:\n" + "".join(f"  - {_flow(r, json.dumps)}\n" for r in records)
