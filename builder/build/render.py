"""Render Dockerfiles: pure functions from a resolved spec to text.

Same inputs, same bytes: no clock, no environment, sorted mappings. A user template
(``--template FILE``) is loaded from its own directory first and may extend ours.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jinja2

from builder.build.runtime_wheel import rpbuild_cache
from builder.build.spec import BaseSpec, RunStep, TorchWheel
from builder.build.weights import FetchStep
from builder.errors import InputError, NotUtf8Error, flag
from rpworker.weights import MANIFEST

BASE_TEMPLATE = "base.Dockerfile.j2"
APP_TEMPLATE = "app.Dockerfile.j2"


@dataclass(frozen=True)
class RenderInput:
    """Every variable the templates use; StrictUndefined makes a missing one an error."""

    from_ref: str
    labels: dict[str, str]
    require_cuda: str = ""
    require_cuda_by_arch: dict[str, str] = field(default_factory=dict)
    """Set where one Dockerfile builds for architectures whose NVIDIA_REQUIRE_CUDA differs:
    a stage per architecture, picked by BuildKit's TARGETARCH; ``require_cuda`` is unused."""
    cuda_version: str = ""
    python: str = ""
    python_source: str = "distro"
    torch: TorchWheel | None = None
    toolchain: tuple[str, ...] = ()
    runtime_wheel: str = ""
    system_packages: tuple[str, ...] = ()
    ca_bundle: bool = False
    pip_conf: bool = False
    gpu_env: dict[str, str] = field(default_factory=dict)
    handler_file: str = ""
    has_requirements: bool = False
    weights_steps: tuple[FetchStep, ...] = ()
    hub: bool = False
    runtime_weights: str = ""
    weights_manifest: str = MANIFEST
    run_steps: tuple[RunStep, ...] = ()
    user: str = ""


def base_input(spec: BaseSpec, **extra: Any) -> RenderInput:
    return RenderInput(
        from_ref=spec.from_ref,
        require_cuda=spec.require_cuda,
        cuda_version=spec.cuda.version,
        python=spec.python,
        python_source=spec.python_source,
        torch=spec.torch,
        toolchain=toolchain(spec),
        **extra,
    )


CA_ENV = ("PIP_CERT", "SSL_CERT_FILE")
"""What a ``run:`` step's tools read for the CA bundle (pip; OpenSSL: curl, git, Python)."""


def shell_word(value: str) -> str:
    """One word of a RUN step's shell command, quoted for ``sh``. Values were checked
    before rendering; a line break here would end the instruction, so it is a bug."""
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError(f"control character in a shell word: {value!r}")
    return shlex.quote(value)


def exec_form(command: str, ca_bundle: bool) -> str:
    """A ``run:`` command as RUN's JSON form: any text, newlines included, stays one line
    of the Dockerfile and reaches ``sh -c`` unchanged."""
    env = [f"{name}=/run/secrets/ca_bundle" for name in CA_ENV] if ca_bundle else []
    prefix = ["/usr/bin/env", *env] if env else []
    return json.dumps([*prefix, "/bin/sh", "-c", command])


def toolchain(spec: BaseSpec) -> tuple[str, ...]:
    """What torch.compile needs at run time: Inductor and Triton compile C (a compiler and
    Python's headers). Only images with torch get it; a template can drop it for a slim image
    by overriding the ``python`` block."""
    if spec.torch is None:
        return ()
    return ("gcc", "libc6-dev", f"python{spec.python}-dev")


def quoted(value: str) -> str:
    """A double-quoted Dockerfile word (LABEL, ENV): ``\\``, ``"`` and ``$`` escaped.

    A line break cannot be escaped there; every value was checked before rendering,
    so one here is a bug.
    """
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError(f"control character in a Dockerfile value: {value!r}")
    return '"' + re.sub(r'([\\"$])', r"\\\1", value) + '"'


def _bytecode_dir() -> Path:
    """Compiled templates, keyed by jinja2 on each template's source: an edit recompiles."""
    path = rpbuild_cache() / "templates"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=8)
def _environment(template: Path | None) -> jinja2.Environment:
    """One per template directory and process: a base and an app rendered together
    compile the shared templates once; compiled code is also kept on disk."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("builder.templates", ".")]
    if template is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(template.parent)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=jinja2.FileSystemBytecodeCache(str(_bytecode_dir())),
    )
    env.filters["sh"] = shell_word
    env.filters["exec_form"] = exec_form
    env.filters["quoted"] = quoted
    return env


def render(name: str, data: RenderInput, template: Path | None = None) -> str:
    """Render template ``name`` (or the user's ``template`` file instead of it).

    Empty blocks leave blank lines; runs of them collapse to one.
    """
    env = _environment(template)
    variables = {f.name: getattr(data, f.name) for f in fields(data)}
    try:
        text = env.get_template(template.name if template else name).render(variables)
    except UnicodeDecodeError as error:
        if template is None:
            raise
        raise NotUtf8Error(template, error, flag("template")) from None
    except jinja2.TemplateError as error:
        if template is None:
            raise
        raise InputError(
            f"{template}: {error} (blocks and variables: see {BASE_TEMPLATE})", flag("template")
        ) from error
    lines = [line.rstrip() for line in text.strip().splitlines()]
    kept = [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]
    return "\n".join(kept) + "\n"
