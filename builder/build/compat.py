"""Compatibility data: load and schema-check images/*.yaml, resolve options to a spec.

The data holds facts only; every decision (which release "12.1" means, where Python
comes from, which torch index) is made here, so templates just print the result.
Impossible combinations are refused before any build, naming the nearest valid choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

from builder.build import tags
from builder.build.require_cuda import RequireCuda
from builder.build.spec import BaseSpec, CudaRelease, ImageOptions, TorchWheel, index_cuda
from builder.errors import Choice, DataError, IncompatibleChoiceError

CUDA_IMAGE = "nvidia/cuda"
DEFAULT_FLAVOR = "runtime"
LEAN_FLAVOR = "base"
"""cudart only: NVIDIA publishes it for every release, without a cuDNN variant. The
default with torch, whose wheels bring their own cuDNN, cuBLAS and NCCL."""


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class CudaFamily:
    """A CUDA major: minor-version compatibility runs all its releases on ``min_driver``."""

    major: int
    min_driver: str
    end_of_life: bool


@dataclass(frozen=True)
class UbuntuRelease:
    release: str
    distro_python: str
    deadsnakes: tuple[str, ...]
    default_python: str


@dataclass(frozen=True)
class TorchRelease:
    version: str
    indexes: tuple[str, ...]
    python: tuple[str, ...]


@dataclass(frozen=True)
class CompatData:
    cuda: tuple[CudaRelease, ...]
    families: tuple[CudaFamily, ...]
    drivers: tuple[tuple[str, str], ...]
    """Every CUDA toolkit release and the driver it shipped with, in version order."""
    brands: tuple[tuple[str, tuple[str, ...]], ...]
    """NVIDIA's brand lists by our name for them."""
    torch: tuple[TorchRelease, ...]
    torch_index_url: str
    pythons: tuple[str, ...]
    default_cuda: str
    ubuntu: tuple[UbuntuRelease, ...]


class _Record:
    """Typed access to one YAML mapping; every miss names the file and the field."""

    def __init__(self, source: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise DataError(f"{source}: expected a mapping, got {type(data).__name__}")
        self.source = source
        self.data: dict[str, Any] = data

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise DataError(f"{self.source}: field {key!r} must be a non-empty string")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataError(f"{self.source}: field {key!r} must be a list of strings")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if not isinstance(value, dict) or not value:
            raise DataError(f"{self.source}: field {key!r} must be a non-empty mapping")
        return {str(k): v for k, v in value.items()}

    def records(self, key: str) -> list[_Record]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise DataError(f"{self.source}: field {key!r} must be a non-empty list")
        return [_Record(f"{self.source}: {key}[{i}]", item) for i, item in enumerate(value)]

    def record(self, key: str) -> _Record:
        return _Record(f"{self.source}: {key}", self.data.get(key))


def load_document(name: str) -> Any:
    text = resources.files("builder.images").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _text(source: str, value: Any) -> str:
    """A version-like scalar: YAML reads 455.23 as a float, so it must be quoted."""
    if not isinstance(value, str) or not value:
        raise DataError(f"{source}: {value!r} must be a quoted string")
    return value


def _parse_require(
    rec: _Record, version: str, brands: dict[str, tuple[str, ...]]
) -> tuple[tuple[str, RequireCuda], ...]:
    by_arch = rec.mapping("require_cuda")
    parsed = []
    for arch, entry in by_arch.items():
        item = _Record(f"{rec.source}: require_cuda.{arch}", entry)
        branches = item.data.get("branches")
        if not isinstance(branches, list) or not all(isinstance(b, int) for b in branches):
            raise DataError(f"{item.source}: field 'branches' must be a list of driver branches")
        names: tuple[str, ...] = ()
        if branches:
            brand_set = item.text("brands")
            if brand_set not in brands:
                raise DataError(f"{item.source}: brands {brand_set!r} is not in 'brands'")
            names = brands[brand_set]
        major_minor = ".".join(version.split(".")[:2])
        parsed.append((arch, RequireCuda(major_minor, names, tuple(branches))))
    return tuple(parsed)


def _parse_cuda(
    rec: _Record, families: dict[int, CudaFamily], brands: dict[str, tuple[str, ...]]
) -> CudaRelease:
    cudnn = rec.record("cudnn")
    version = rec.text("version")
    if len(version.split(".")) != 3:
        raise DataError(f"{rec.source}: version {version!r} must be major.minor.patch")
    family = families.get(int(version.split(".")[0]))
    if family is None:
        raise DataError(f"{rec.source}: CUDA {version} has no entry in 'families'")
    return CudaRelease(
        version=version,
        ubuntu=rec.texts("ubuntu"),
        flavors=rec.texts("flavors"),
        cudnn_version=cudnn.text("version"),
        cudnn_tag=cudnn.text("tag"),
        require_cuda=_parse_require(rec, version, brands),
        end_of_life=family.end_of_life,
    )


def _parse_families(cuda: _Record) -> dict[int, CudaFamily]:
    families = {}
    for rec in cuda.records("families"):
        major = rec.data.get("major")
        if not isinstance(major, int):
            raise DataError(f"{rec.source}: field 'major' must be a whole number")
        end_of_life = rec.data.get("end_of_life", False)
        if not isinstance(end_of_life, bool):
            raise DataError(f"{rec.source}: field 'end_of_life' must be true or false")
        families[major] = CudaFamily(major, rec.text("min_driver"), end_of_life)
    return families


@cache
def load() -> CompatData:
    """Load and check all compatibility data once per process."""
    return parse(
        load_document("cuda.yaml"), load_document("torch.yaml"), load_document("python.yaml")
    )


def parse(cuda_doc: Any, torch_doc: Any, python_doc: Any) -> CompatData:
    """Check the three YAML documents' shape and cross-references; DataError names the field."""
    cuda = _Record("images/cuda.yaml", cuda_doc)
    torch = _Record("images/torch.yaml", torch_doc)
    python = _Record("images/python.yaml", python_doc)
    families = _parse_families(cuda)
    brands = {
        name: _Record(f"{cuda.source}: brands", {"list": value}).texts("list")
        for name, value in cuda.mapping("brands").items()
    }
    drivers = {
        _text(f"{cuda.source}: drivers", version): _text(
            f"{cuda.source}: drivers.{version}", driver
        )
        for version, driver in cuda.mapping("drivers").items()
    }
    data = CompatData(
        cuda=tuple(
            sorted(
                (_parse_cuda(r, families, brands) for r in cuda.records("releases")),
                key=_cuda_key,
            )
        ),
        families=tuple(families[major] for major in sorted(families)),
        drivers=tuple(sorted(drivers.items(), key=lambda item: version_key(item[0]))),
        brands=tuple(brands.items()),
        torch=tuple(
            sorted(
                (
                    TorchRelease(r.text("version"), r.texts("indexes"), r.texts("python"))
                    for r in torch.records("releases")
                ),
                key=lambda t: version_key(t.version),
            )
        ),
        torch_index_url=torch.text("index_url"),
        default_cuda=cuda.text("default"),
        pythons=python.texts("supported"),
        ubuntu=tuple(
            UbuntuRelease(
                r.text("release"),
                r.text("distro_python"),
                r.texts("deadsnakes"),
                r.text("default_python"),
            )
            for r in python.records("ubuntu")
        ),
    )
    if "{index}" not in data.torch_index_url:
        raise DataError("images/torch.yaml: index_url must contain {index}")
    if not any(is_release_of(c.version, data.default_cuda) for c in data.cuda):
        raise DataError(f"images/cuda.yaml: default {data.default_cuda!r} is no listed release")
    known = {u.release for u in data.ubuntu}
    for release in data.cuda:
        if missing := set(release.ubuntu) - known:
            raise DataError(f"images/cuda.yaml: {release.version} names unknown Ubuntu {missing}")
        if not any(is_release_of(version, release.major_minor) for version in drivers):
            raise DataError(
                f"images/cuda.yaml: drivers has no CUDA {release.major_minor}.x "
                f"(needed for {release.version})"
            )
    return data


def _cuda_key(release: CudaRelease) -> tuple[int, ...]:
    return version_key(release.version)


def _nearest(value: str, choices: list[str], count: int = 2) -> list[str]:
    """The ``count`` choices next to ``value`` in version order, in version order."""
    try:
        ordered = sorted({*choices, value}, key=version_key)
    except ValueError:
        return sorted(choices)[:count]
    here = ordered.index(value)
    ranked = sorted(choices, key=lambda c: (abs(ordered.index(c) - here), ordered.index(c)))
    return sorted(ranked[:count], key=version_key)


def _choices(field: str, values: list[str]) -> list[Choice]:
    return [Choice(field, value) for value in values]


def is_release_of(version: str, wanted: str) -> bool:
    """Whether ``version`` answers a request for ``wanted``: ``12.1`` means any 12.1.x."""
    return version == wanted or version.startswith(wanted + ".")


def resolve_cuda(data: CompatData, wanted: str | None) -> CudaRelease:
    """``12.1`` means the newest 12.1.x in the data; ``12.1.1`` means exactly that."""
    wanted = wanted or data.default_cuda
    matches = [c for c in data.cuda if is_release_of(c.version, wanted)]
    if not matches:
        versions = sorted({c.major_minor for c in data.cuda}, key=version_key)
        raise IncompatibleChoiceError(
            "cuda",
            wanted,
            "no such CUDA release in rpbuild's data",
            _choices("cuda", _nearest(wanted, versions)),
        )
    return matches[-1]


def _resolve_ubuntu(cuda: CudaRelease, wanted: str | None) -> str:
    if wanted is None:
        return cuda.ubuntu[-1]
    if wanted not in cuda.ubuntu:
        raise IncompatibleChoiceError(
            "ubuntu",
            wanted,
            f"CUDA {cuda.version} has no {CUDA_IMAGE} image for it",
            _choices("ubuntu", list(reversed(cuda.ubuntu))),
        )
    return wanted


def _resolve_flavor(cuda: CudaRelease, wanted: str | None) -> str:
    flavor = wanted or DEFAULT_FLAVOR
    if flavor not in (LEAN_FLAVOR, *cuda.flavors):
        raise IncompatibleChoiceError(
            "flavor",
            flavor,
            f"CUDA {cuda.version} has no such image flavor",
            _choices("flavor", [LEAN_FLAVOR, *cuda.flavors]),
        )
    return flavor


def _resolve_require_cuda(cuda: CudaRelease, platform: str | None, base_image: str | None) -> str:
    """NVIDIA's string for the target architecture; one Dockerfile serves one string.

    On a --base-image the string still comes from NVIDIA's images, so the platforms are
    theirs, but the refusal names that limit rather than an image the user did not pick.
    """
    wanted = [p.strip() for p in (platform or "linux/amd64").split(",")]
    texts = set()
    for item in wanted:
        arch = tags.arch(item)
        if arch not in cuda.architectures:
            known = ", ".join(cuda.architectures)
            reason = (
                f"{CUDA_IMAGE}:{cuda.version} has no image for it"
                if base_image is None
                else f"not a platform rpbuild knows CUDA {cuda.version}'s driver requirement "
                f"(NVIDIA_REQUIRE_CUDA) for: it knows {known}"
            )
            raise IncompatibleChoiceError(
                "platform",
                item,
                reason,
                _choices("platform", [f"linux/{a}" for a in cuda.architectures]),
            )
        texts.add(cuda.require_for(arch).text())
    if len(texts) > 1:
        raise IncompatibleChoiceError(
            "platform",
            ",".join(wanted),
            f"NVIDIA_REQUIRE_CUDA of CUDA {cuda.version} differs between these platforms: "
            "build one platform at a time",
            _choices("platform", wanted),
        )
    return texts.pop()


def for_platform(spec: BaseSpec, platform: str) -> BaseSpec:
    """``spec`` for one platform of a multi-platform build (built one platform at a time):
    refused where NVIDIA has no image for it, with that platform's NVIDIA_REQUIRE_CUDA."""
    return replace(spec, require_cuda=_resolve_require_cuda(spec.cuda, platform, spec.base_image))


def require_cuda_by_arch(spec: BaseSpec, platforms: Sequence[str]) -> dict[str, str]:
    """Each architecture's NVIDIA_REQUIRE_CUDA where one Dockerfile serves ``platforms``
    whose strings differ (it then picks one by TARGETARCH); empty where
    ``spec.require_cuda`` serves them all."""
    by_arch = {
        tags.arch(platform): for_platform(spec, platform).require_cuda for platform in platforms
    }
    return by_arch if len(set(by_arch.values())) > 1 else {}


def _resolve_torch(data: CompatData, cuda: CudaRelease, wanted: str | None) -> TorchRelease | None:
    """The torch release wanted, refused unless it has a wheel for ``cuda``."""
    if wanted is None or wanted == "none":
        return None
    matches = [t for t in data.torch if is_release_of(t.version, wanted)]
    if not matches:
        raise IncompatibleChoiceError(
            "torch",
            wanted,
            "no such torch release in rpbuild's data",
            _choices("torch", _nearest(wanted, [t.version for t in data.torch])),
        )
    release = matches[-1]
    if cuda.torch_index not in release.indexes:
        raise _torch_cuda_error(data, release, cuda, cuda.torch_index)
    return release


def _torch_cuda_error(
    data: CompatData, release: TorchRelease, cuda: CudaRelease, index: str
) -> IncompatibleChoiceError:
    major = cuda.major_minor.split(".")[0]
    same_major = [i for i in release.indexes if index_cuda(i).split(".")[0] == major]
    has = f"; its CUDA {major} wheels are {', '.join(same_major)}" if same_major else ""
    reason = f"torch {release.version} has no wheel for CUDA {cuda.major_minor} ({index}){has}"
    choices: list[Choice] = []
    with_index = [t.version for t in data.torch if index in t.indexes]
    if with_index:
        later = [v for v in with_index if version_key(v) > version_key(release.version)]
        pick = later[0] if later else with_index[-1]
        choices.append(Choice("torch", pick, " or newer" if later else ""))
    cudas = [c.major_minor for c in data.cuda if c.torch_index in release.indexes]
    choices += _choices("cuda", _nearest(cuda.major_minor, sorted(set(cudas), key=version_key), 1))
    return IncompatibleChoiceError("cuda", cuda.major_minor, reason, choices)


def _resolve_python(
    data: CompatData,
    ubuntu: UbuntuRelease,
    torch: TorchRelease | None,
    options: ImageOptions,
) -> tuple[str, str]:
    """Pick the Python version and where it comes from: ``distro`` or ``deadsnakes``.

    A ``--base-image`` installs from its own apt sources, whose Python rpbuild cannot know
    before building: without ``--python`` it is refused, unless ``--ubuntu`` says which
    Ubuntu release the base is (then that release's default applies).
    """
    custom_base = options.base_image is not None
    wanted = options.python
    allowed = [p for p in data.pythons if torch is None or p in torch.python]
    if not custom_base:
        provided = {ubuntu.distro_python, *ubuntu.deadsnakes}
        allowed = [p for p in allowed if p in provided]
    if wanted is None and custom_base and options.ubuntu is None:
        raise IncompatibleChoiceError(
            "python",
            "not set",
            f"the default Python of the base image {options.base_image} is unknown before "
            "building (rpbuild knows only the nvidia/cuda Ubuntu releases'); name the version "
            "its apt installs as python3.X (Debian 12: 3.11), or the Ubuntu release it is",
            _choices("python", _nearest(ubuntu.default_python, allowed)),
        )
    if wanted is None:
        if not allowed:
            raise IncompatibleChoiceError(
                "ubuntu", ubuntu.release, "no Python fits this Ubuntu and torch", []
            )
        wanted = ubuntu.default_python if ubuntu.default_python in allowed else allowed[-1]
    if wanted not in allowed:
        if wanted not in data.pythons:
            oldest = min(data.pythons, key=version_key)
            what = f"the worker runtime (needs {oldest} or newer)"
        elif torch and wanted not in torch.python:
            what = f"torch {torch.version}"
        else:
            what = f"Ubuntu {ubuntu.release} (distro or deadsnakes)"
        raise IncompatibleChoiceError(
            "python",
            wanted,
            f"not available for {what}",
            _choices("python", _nearest(wanted, allowed)),
        )
    source = "distro" if custom_base or wanted == ubuntu.distro_python else "deadsnakes"
    return wanted, source


def resolve(options: ImageOptions, data: CompatData | None = None) -> BaseSpec:
    """Resolve user options to one buildable base image, or raise naming valid choices."""
    data = data or load()
    cuda = resolve_cuda(data, options.cuda)
    ubuntu_name = _resolve_ubuntu(cuda, options.ubuntu)
    ubuntu = next(u for u in data.ubuntu if u.release == ubuntu_name)
    torch = _resolve_torch(data, cuda, options.torch)
    flavor = _resolve_flavor(cuda, options.flavor or (LEAN_FLAVOR if torch else None))
    python, source = _resolve_python(data, ubuntu, torch, options)
    index, url = cuda.torch_index, data.torch_index_url.format(index=cuda.torch_index)
    wheel = TorchWheel(torch.version, index, url) if torch else None
    variant = flavor if flavor == LEAN_FLAVOR else f"{cuda.cudnn_tag}-{flavor}"
    cuda_ref = f"{CUDA_IMAGE}:{cuda.version}-{variant}-ubuntu{ubuntu_name}"
    return BaseSpec(
        cuda=cuda,
        ubuntu=ubuntu_name,
        flavor=flavor,
        python=python,
        python_source=source,
        torch=wheel,
        from_ref=options.base_image or cuda_ref,
        base_image=options.base_image,
        require_cuda=_resolve_require_cuda(cuda, options.platform, options.base_image),
    )
