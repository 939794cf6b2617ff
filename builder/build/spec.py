"""What to build: the user's options (every field may be unset) and the resolved spec.

``ImageOptions`` is the one object the ``image`` command fills from its flags; a config
file can pre-fill it. ``compat.resolve`` turns it into a ``BaseSpec``: every version
decided, ready for rendering, tagging and verification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.build.require_cuda import RequireCuda
from rpworker import weights


@dataclass(frozen=True)
class GpuRequirements:
    """Baked as RPWORKER_MIN_* env; the runtime's GPU check enforces them at startup."""

    min_gpus: int | None = None
    min_free_memory_mb: int | None = None
    min_compute_capability: str | None = None

    def env(self) -> dict[str, str]:
        values = {
            "RPWORKER_MIN_GPUS": self.min_gpus,
            "RPWORKER_MIN_FREE_MEMORY_MB": self.min_free_memory_mb,
            "RPWORKER_MIN_COMPUTE_CAPABILITY": self.min_compute_capability,
        }
        return {key: str(value) for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class RunStep:
    """A ``run:`` build step: a shell command, and the build secrets mounted for it alone."""

    command: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class WeightsSource(weights.Source):
    """A ``weights:`` entry of rpbuild.yaml.

    ``at`` is ``build`` (a layer of the image) or ``runtime`` (the worker fetches it at
    start); ``secret`` names the build secret sent as a bearer token for a URL.
    """

    secret: str | None = None
    at: str = "build"


@dataclass(frozen=True)
class ImageOptions:
    """Everything ``rpbuild image`` accepts; ``None`` means "use the default"."""

    directory: Path = Path(".")
    cuda: str | None = None
    python: str | None = None
    torch: str | None = None
    ubuntu: str | None = None
    flavor: str | None = None
    handler: Path | None = None
    requirements: Path | None = None
    system_packages: tuple[str, ...] = ()
    run_steps: tuple[RunStep, ...] = ()
    weights: tuple[WeightsSource, ...] = ()
    network: str | None = None
    tags: tuple[str, ...] = ()
    repository: str | None = None
    base_image: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    platform: str | None = None
    builder: str | None = None
    context: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    no_cache: bool = False
    template: Path | None = None
    gpu: GpuRequirements = field(default_factory=GpuRequirements)
    verify: bool = True
    runpod_sdk: str | None = None
    """rpbuild.yaml ``runpod_sdk: keep`` installs a pinned SDK; by default rpworker replaces it."""
    user: str | None = None
    include: tuple[str, ...] = ()

    def secret_ids(self) -> set[str]:
        """The ids of ``--secret id=NAME,...`` (buildx's syntax)."""
        return {
            value
            for spec in self.secrets
            for key, _, value in (part.partition("=") for part in spec.split(","))
            if key == "id"
        }


@dataclass(frozen=True)
class CudaRelease:
    version: str
    ubuntu: tuple[str, ...]
    flavors: tuple[str, ...]
    cudnn_version: str
    cudnn_tag: str
    require_cuda: tuple[tuple[str, RequireCuda], ...]
    """NVIDIA_REQUIRE_CUDA of NVIDIA's image, per architecture (``amd64``, ``arm64``)."""
    end_of_life: bool = False

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def architectures(self) -> tuple[str, ...]:
        return tuple(arch for arch, _ in self.require_cuda)

    def require_for(self, arch: str) -> RequireCuda:
        return dict(self.require_cuda)[arch]

    @property
    def torch_index(self) -> str:
        """The torch wheel index built for this release: ``12.1.1`` -> ``cu121``."""
        return "cu" + self.major_minor.replace(".", "")


@dataclass(frozen=True)
class TorchWheel:
    """One torch release from one CUDA wheel index."""

    version: str
    index: str
    index_url: str

    @property
    def local_version(self) -> str:
        return f"{self.version}+{self.index}"

    @property
    def cuda(self) -> str:
        return index_cuda(self.index)


def index_cuda(index: str) -> str:
    """The CUDA major.minor a torch wheel index is built for: ``cu121`` -> ``12.1``."""
    digits = index.removeprefix("cu")
    return f"{digits[:-1]}.{digits[-1]}"


@dataclass(frozen=True)
class BaseSpec:
    """A fully resolved GPU base image: the axes of its tag and the claims verify checks."""

    cuda: CudaRelease
    ubuntu: str
    flavor: str
    python: str
    python_source: str
    torch: TorchWheel | None
    from_ref: str
    base_image: str | None
    """The ``--base-image`` as given (``from_ref`` may be pinned to a digest later); None
    on an nvidia/cuda base."""
    require_cuda: str
    """NVIDIA_REQUIRE_CUDA for the target architecture, byte for byte NVIDIA's."""

    @property
    def custom_base(self) -> bool:
        return self.base_image is not None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What to know before building on this spec (the build still goes ahead)."""
        if not self.cuda.end_of_life or self.custom_base:
            return ()
        return (
            f"CUDA {self.cuda.version} is end-of-life at NVIDIA, which deletes its nvidia/cuda "
            "tags months later: build on a supported release (--cuda 12.8 or newer)",
        )

    @property
    def cudnn(self) -> str:
        """The cuDNN major the base image carries; ``none`` for the base flavor."""
        return "none" if self.flavor == "base" else self.cuda.cudnn_version
