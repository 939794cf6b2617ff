"""One resolution: command-line flags + rpbuild.yaml -> the options of a build.

Every command that builds or names an image (`image`, `lock`, `test`, `serve`,
`matrix build`) goes through :func:`resolve_options`, so one flag means the same
everywhere. Each value remembers its :class:`~builder.errors.Source` (``--cuda``
or ``rpbuild.yaml: cuda``), so an error names what the user wrote and where.
:func:`resolve_spec` then runs the compatibility resolution, once per build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.build import compat, config, tags
from builder.build.option_checks import check_options
from builder.build.spec import BaseSpec, GpuRequirements, ImageOptions
from builder.errors import IncompatibleChoiceError, InputError, Source, flag

SCALARS = (
    "cuda",
    "python",
    "torch",
    "ubuntu",
    "flavor",
    "repository",
    "base_image",
    "platform",
    "network",
    "user",
    "builder",
    "context",
)
"""Options a file sets like the flag of the same name."""
FILES = ("handler", "requirements", "ca_bundle")
"""Options naming a file: a flag's path is as given, a file's is relative to the file."""
GPU = ("min_gpus", "min_gpu_memory", "min_compute_capability")
FILE_ONLY = ("runpod_sdk", "run_steps", "weights")
"""Options only rpbuild.yaml sets (``run_steps`` is its ``run:``)."""
FLAG_ONLY = ("secrets", "no_cache", "cache_from", "cache_to", "template", "verify")
"""Options only the command line sets."""
_FLAGS = {"tags": "--tag", "build_args": "--build-arg", "secrets": "--secret"}


def _flag(name: str) -> Source:
    return Source(_FLAGS[name]) if name in _FLAGS else flag(name)


@dataclass(frozen=True)
class Layer:
    """Values from a file below the flags: rpbuild.yaml, or a row of the image matrix."""

    origin: str
    directory: Path
    values: Mapping[str, Any]

    @classmethod
    def of_project(cls, project: config.ProjectConfig) -> Layer:
        values = {name: getattr(project, name) for name in (*SCALARS, *FILES, *GPU, *FILE_ONLY)}
        values |= {
            "tags": project.tags,
            "system_packages": project.system_packages,
            "include": project.include,
            "build_args": project.build_args,
        }
        return cls(str(project.path), project.directory, values)


@dataclass(frozen=True)
class ResolvedOptions:
    """The options of one build, and where each value set came from."""

    options: ImageOptions
    sources: Mapping[str, Source] = field(default_factory=dict)


def resolve_options(
    directory: Path, flags: Mapping[str, Any], layer: Layer | None = None
) -> ResolvedOptions:
    """Pure: ``flags`` holds only the options given on the command line (by field name);
    the layer fills the rest; build arguments merge, a flag overriding the same name."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}

    def take(name: str, value: Any, source: Source) -> None:
        values[name], sources[name] = value, source

    below = layer.values if layer else {}
    for name in (*SCALARS, *FILES, *GPU, *FILE_ONLY, "tags", "system_packages", "include"):
        if flags.get(name) not in (None, ()):
            take(name, flags[name], _flag(name))
        elif below.get(name) not in (None, ()):
            assert layer is not None
            value = below[name]
            if name in FILES:
                value = _layer_file(layer, name, value)
            take(name, value, Source(name, layer.origin))
    for name in FLAG_ONLY:
        if name in flags:
            take(name, flags[name], _flag(name))
    given_args = tuple(flags.get("build_args", ()))
    overridden = {key for key, _ in given_args}
    file_args = tuple((k, v) for k, v in below.get("build_args", {}).items() if k not in overridden)
    if file_args or given_args:
        origin = None if given_args or layer is None else layer.origin
        source = Source("build_args", origin) if origin else _flag("build_args")
        take("build_args", file_args + given_args, source)
    gpu = GpuRequirements(
        values.pop("min_gpus", None),
        values.pop("min_gpu_memory", None),
        values.pop("min_compute_capability", None),
    )
    options = ImageOptions(directory=directory, gpu=gpu, **values)
    check_options(options, sources)
    return ResolvedOptions(options, sources)


def _layer_file(layer: Layer, key: str, name: str) -> Path:
    path = layer.directory / Path(name).expanduser()
    if path.is_dir():
        raise InputError(
            f"{name!r} is a directory, not a file: name a file in it", Source(key, layer.origin)
        )
    if not path.is_file():
        raise InputError(f"file not found (got {name!r})", Source(key, layer.origin))
    return path


def load_project(directory: Path) -> Layer | None:
    """DIR's rpbuild.yaml as a layer (checked against the known CUDA releases)."""
    known = [release.version for release in compat.load().cuda]
    project = config.load(directory, known)
    return Layer.of_project(project) if project else None


def resolve_spec(resolved: ResolvedOptions, data: compat.CompatData | None = None) -> BaseSpec:
    """The compatibility resolution, with errors aimed at the flag or key the user wrote.

    Several platforms build one at a time: the spec is the first one's, and every other
    must have an image too (``image.platform_plans`` gives each its own spec).
    """
    wanted = tags.platforms(resolved.options.platform)
    first = wanted[0] if wanted else None
    try:
        spec = compat.resolve(dataclasses.replace(resolved.options, platform=first), data)
        for platform in wanted[1:]:
            compat.for_platform(spec, platform)
    except IncompatibleChoiceError as error:
        raise error.located(resolved.sources) from None
    return spec
