"""The image matrix (images/matrix.yaml): which GPU base images the project publishes.

Rows are records with a unique name, resolved through the compatibility data at load,
so a row that cannot work fails before any build, naming the row. The same rows feed
`matrix list`, the bake file, `matrix build` and the CI shard matrix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from builder.build import compat, tags, user_yaml
from builder.build.options import Layer
from builder.build.spec import BaseSpec, ImageOptions
from builder.errors import IncompatibleChoiceError, InputError, Source
from builder.textfile import read_text
from builder.values import shown

MATRIX_FILE = "matrix.yaml"
AXES = ("cuda", "python", "torch", "ubuntu", "flavor")
FILTER_KEYS = ("name", *AXES)
DEFAULT_PLATFORMS = ("linux/amd64",)
INLINE_CACHE = "type=inline"
_ROW_KEYS = {"name", "default", "platforms", *AXES}
_TOP_KEYS = {"registry", "repository", "images"}
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class MatrixError(InputError):
    """The matrix file is malformed or has rows the compatibility data rules out."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"  {p}" for p in self.problems), Source("", source))

    def format_message(self) -> str:
        return f"{self.where}:\n{self.message}"


@dataclass(frozen=True)
class MatrixRow:
    name: str
    options: ImageOptions
    spec: BaseSpec
    """The first platform's: every platform resolves (checked at load), and a build gives
    each its own NVIDIA_REQUIRE_CUDA (``image.plan`` for the bake file, one Dockerfile)."""
    default: bool = True
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS

    def axis(self, key: str) -> str:
        """The row's value for a filter key, fully resolved (cuda 12.1 -> 12.1.1)."""
        values = {
            "name": self.name,
            "cuda": self.spec.cuda.version,
            "python": self.spec.python,
            "torch": self.spec.torch.version if self.spec.torch else "none",
            "ubuntu": self.spec.ubuntu,
            "flavor": self.spec.flavor,
        }
        return values[key]

    def layer(self, matrix: Matrix) -> Layer:
        """The row's axes below the command's flags, named after the row."""
        values = {axis: getattr(self.options, axis) for axis in (*AXES, "platform")}
        return Layer(f"{matrix.source}: row {self.name!r}", matrix.directory, values)

    def tags(self, registry: str, repository: str, prefix: str = "") -> list[str]:
        """The full tag (every axis) and the row name as a short alias."""
        name = f"{registry}/{repository}"
        return [f"{name}:{prefix}{tags.axes(self.spec)}", f"{name}:{prefix}{self.name}"]

    def cache(self, registry: str, repository: str) -> tuple[str, str]:
        """BuildKit's --cache-from and --cache-to for the row: the layers of its last push.

        Inline cache (in the pushed image itself) works with every builder, the ``docker``
        driver included; the alias tag always names the row's latest image.
        """
        return f"type=registry,ref={registry}/{repository}:{self.name}", INLINE_CACHE


@dataclass(frozen=True)
class Matrix:
    """`directory` (the matrix file's) is where rows build from: no handler, git provenance."""

    source: str
    directory: Path
    registry: str
    repository: str
    rows: tuple[MatrixRow, ...]


def _read(path: Path | None) -> tuple[str, Path, Any]:
    if path is None:
        shipped = resources.files("builder.images")
        text = shipped.joinpath(MATRIX_FILE).read_text("utf-8")
        return f"images/{MATRIX_FILE}", Path(str(shipped)), yaml.safe_load(text)
    try:
        return str(path), path.parent, user_yaml.load(read_text(path))
    except (OSError, yaml.YAMLError) as exc:
        raise MatrixError(str(path), [f"cannot read the matrix: {exc}"]) from exc


def _row(index: int, raw: Any, problems: list[str], data: compat.CompatData) -> MatrixRow | None:
    where = f"images[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping with name, {', '.join(AXES)}")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"{where}: name {shown(name)} must be kebab-case ([a-z0-9] and '-')")
        return None
    where = f"row {name!r}"
    before = len(problems)
    if unknown := sorted(set(raw) - _ROW_KEYS):
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_ROW_KEYS)}")
    for axis in AXES:
        if not isinstance(raw.get(axis), str):
            problems.append(f"{where}: {axis} must be a quoted string, got {shown(raw.get(axis))}")
    if not isinstance(raw.get("default", True), bool):
        problems.append(f"{where}: default must be true or false")
    platforms = raw.get("platforms", list(DEFAULT_PLATFORMS))
    if (
        not isinstance(platforms, list)
        or not platforms
        or not all(isinstance(p, str) and p.startswith("linux/") for p in platforms)
    ):
        problems.append(f"{where}: platforms must be a list such as [linux/amd64, linux/arm64]")
    if len(problems) > before:
        return None
    options = ImageOptions(**{axis: raw[axis] for axis in AXES}, platform=",".join(platforms))
    try:
        specs = [compat.resolve(replace(options, platform=p), data) for p in platforms]
    except IncompatibleChoiceError as exc:
        problems.append(f"{where}: {exc.field} {exc.message}")
        return None
    return MatrixRow(name, options, specs[0], raw.get("default", True), tuple(platforms))


def load_matrix(path: Path | None = None, data: compat.CompatData | None = None) -> Matrix:
    """Load, shape-check and resolve every row; all problems are reported at once."""
    source, directory, raw = _read(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("images"), list):
        raise MatrixError(source, ["expected a mapping with an `images` list of rows"])
    problems: list[str] = []
    if unknown := sorted(set(raw) - _TOP_KEYS):
        problems.append(f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    data = data or compat.load()
    rows = [_row(i, item, problems, data) for i, item in enumerate(raw["images"])]
    seen: set[str] = set()
    for row in rows:
        if row is not None and row.name in seen:
            problems.append(f"row {row.name!r}: the name is used twice; names must be unique")
        seen.update([row.name] if row else [])
    if problems:
        raise MatrixError(source, problems)
    return Matrix(
        source=source,
        directory=directory,
        registry=str(raw.get("registry", "docker.io")),
        repository=str(raw.get("repository", tags.BASE_REPOSITORY)),
        rows=tuple(row for row in rows if row is not None),
    )


def parse_filters(texts: Iterable[str]) -> dict[str, list[str]]:
    """`key=value` texts; the same key twice means either value."""
    filters: dict[str, list[str]] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or key not in FILTER_KEYS or not value:
            raise InputError(
                f"{text!r}: use KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}",
                Source("--filter"),
            )
        filters.setdefault(key, []).append(value)
    return filters


def _matches(row: MatrixRow, key: str, wanted: str) -> bool:
    if key in ("cuda", "torch", "python"):
        return compat.is_release_of(row.axis(key), wanted)
    return row.axis(key) == wanted


def select(matrix: Matrix, filters: dict[str, list[str]]) -> list[MatrixRow]:
    """Rows matching every key (any of its values); `cuda=12.1` matches 12.1.1."""
    rows = [
        row
        for row in matrix.rows
        if all(any(_matches(row, key, v) for v in values) for key, values in filters.items())
    ]
    if not rows:
        wanted = ", ".join(f"{k}={'|'.join(v)}" for k, v in filters.items())
        names = ", ".join(row.name for row in matrix.rows)
        raise InputError(
            f"no row of {matrix.source} matches {wanted}; rows: {names}", Source("--filter")
        )
    return rows


def describe(matrix: Matrix, rows: Sequence[MatrixRow], registry: str) -> list[dict[str, Any]]:
    """One record per row: the axes and its tags (`matrix list --json`)."""
    return [
        {
            **{key: row.axis(key) for key in FILTER_KEYS},
            "default": row.default,
            "platforms": list(row.platforms),
            "base": row.spec.from_ref,
            "tags": row.tags(registry, matrix.repository),
        }
        for row in rows
    ]


def table(records: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of `describe` records (the full tag last)."""
    columns = [*FILTER_KEYS, "tag"]
    cells = [[*(str(r[key]) for key in FILTER_KEYS), r["tags"][0]] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def github_matrix(matrix: Matrix, rows: Sequence[MatrixRow]) -> dict[str, list[dict[str, str]]]:
    """`strategy.matrix` for GitHub Actions: one job per row, keyed by its name, with the
    row's platforms and registry cache."""
    include = []
    for row in rows:
        cache_from, cache_to = row.cache(matrix.registry, matrix.repository)
        include.append(
            {
                **{key: row.axis(key) for key in FILTER_KEYS},
                "platforms": ",".join(row.platforms),
                "cache_from": cache_from,
                "cache_to": cache_to,
            }
        )
    return {"include": include}
