"""NVIDIA_REQUIRE_CUDA: the string NVIDIA's container runtime checks at ``docker run``.

NVIDIA's images carry ``cuda>=X.Y`` OR'ed (space) with one clause per brand and driver
branch that cuda-compat forward compatibility supports: ``brand=B,driver>=N,driver<N+1``
(comma = AND). The data keeps the parts (brand list, branches), so a review shows which
branches changed; :func:`RequireCuda.text` rebuilds NVIDIA's exact bytes and :func:`parse`
takes a string read from an image apart again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLAUSE = re.compile(r"brand=([a-z]+),driver>=(\d+),driver<(\d+)")
_FLOOR = re.compile(r"cuda>=(\d+\.\d+)")


class RequireCudaError(ValueError):
    """A string that is not in the shape NVIDIA's images use."""


@dataclass(frozen=True)
class RequireCuda:
    cuda: str
    brands: tuple[str, ...] = ()
    branches: tuple[int, ...] = ()

    def text(self) -> str:
        clauses = [
            f"brand={brand},driver>={branch},driver<{branch + 1}"
            for branch in self.branches
            for brand in self.brands
        ]
        return " ".join([f"cuda>={self.cuda}", *clauses])


def parse(text: str) -> RequireCuda:
    """Split NVIDIA's string into its parts; refuse one that would not render back the same."""
    floor, *clauses = text.split(" ")
    match = _FLOOR.fullmatch(floor)
    if match is None:
        raise RequireCudaError(f"{text[:40]!r}: expected it to start with cuda>=X.Y")
    pairs = []
    for clause in clauses:
        found = _CLAUSE.fullmatch(clause)
        if found is None or int(found[3]) != int(found[2]) + 1:
            raise RequireCudaError(f"{clause!r} is not brand=B,driver>=N,driver<N+1")
        pairs.append((found[1], int(found[2])))
    branches = tuple(dict.fromkeys(branch for _, branch in pairs))
    brands = tuple(dict.fromkeys(brand for brand, _ in pairs))
    parsed = RequireCuda(match[1], brands, branches)
    if parsed.text() != text:
        raise RequireCudaError(
            f"{text[:40]!r}...: its clauses are not every brand for every branch, in one order"
        )
    return parsed
