"""rpbuild.yaml: a project's defaults, so `rpbuild image` in its directory needs no flags.

Loading is three steps, each its own function: :func:`parse` (YAML only, into
the raw mapping), :func:`validate` (every problem at once: key, bad value,
what is allowed) and :func:`resolve` (the typed config, unset keys ``None``).
:mod:`builder.build.options` then merges it with the command line; flags win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from builder.build import compat, user_yaml
from builder.build.spec import RunStep, WeightsSource
from builder.errors import BadReferenceError, InputError
from builder.registry.reference import parse_ref
from builder.textfile import read_text
from builder.values import (
    BUILD_ARG,
    BUILD_ARG_RULE,
    DEB_PACKAGE,
    FILE_PATTERN,
    HF_REPO,
    IMAGE_PATH,
    MAJOR_MINOR,
    REVISION,
    SECRET_ID,
    SHA256,
    URL,
    VERSION,
    is_user,
    matches,
    shown,
)

FILE_NAME = "rpbuild.yaml"

_FLAVORS = ("base", "runtime", "devel")


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the file: where, what was found, what would be accepted."""

    key: str
    value: Any
    message: str
    allowed: str | None = None

    def describe(self, path: Path) -> str:
        text = f"{path}: {self.key}: {self.message} (got {shown(self.value)})"
        return f"{text}; allowed: {self.allowed}" if self.allowed else text


class ProjectConfigError(InputError):
    """rpbuild.yaml is unusable; exit 2 like any other bad input."""

    def __init__(self, path: Path, issues: Sequence[ConfigIssue]) -> None:
        self.path = path
        self.issues = list(issues)
        lines = [f"{len(self.issues)} problem(s) in {path}:"]
        lines += [f"  {issue.describe(path)}" for issue in self.issues]
        lines.append(f"Fix {path.name} (see the README's configuration reference).")
        super().__init__("\n".join(lines))


Validator = Callable[[str, Any], "ConfigIssue | None"]


def _string(valid: Callable[[str], object], allowed: str, hint: str = "") -> Validator:
    def check(key: str, value: Any) -> ConfigIssue | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            written = value.text if isinstance(value, user_yaml.Number) else value
            return ConfigIssue(
                key, value, f'must be a quoted string, e.g. {key}: "{written}"{hint}', allowed
            )
        if not isinstance(value, str) or not valid(value):
            return ConfigIssue(key, value, "invalid value", allowed)
        return None

    return check


def _reference(allowed: str, *, digest: bool = True, suffix: str = "") -> Validator:
    """An image reference (``suffix`` completes a repository into one); an issue says
    which part breaks Docker's grammar and why."""
    typed = _string(lambda _text: True, allowed)

    def check(key: str, value: Any) -> ConfigIssue | None:
        issue = typed(key, value)
        if issue is not None:
            return issue
        try:
            ref = parse_ref(value + suffix)
        except BadReferenceError as error:
            return ConfigIssue(key, value, error.reason, allowed)
        if ref.digest and not digest:
            return ConfigIssue(key, value, "a digest (@sha256:...) is not allowed here", allowed)
        return None

    return check


def _choice(choices: Sequence[str]) -> Validator:
    def check(key: str, value: Any) -> ConfigIssue | None:
        if value not in choices:
            return ConfigIssue(key, value, "unknown choice", ", ".join(choices))
        return None

    return check


def _int(minimum: int, unit: str = "") -> Validator:
    def check(key: str, value: Any) -> ConfigIssue | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return ConfigIssue(key, value, "invalid value", f"an integer >= {minimum}{unit}")
        return None

    return check


def _list_of(item: Validator, allowed: str) -> Validator:
    def check(key: str, value: Any) -> ConfigIssue | None:
        if not isinstance(value, list):
            return ConfigIssue(key, value, "must be a list", allowed)
        for index, entry in enumerate(value):
            issue = item(f"{key}[{index}]", entry)
            if issue is not None:
                return issue
        return None

    return check


def _build_args(key: str, value: Any) -> ConfigIssue | None:
    if not isinstance(value, dict):
        return ConfigIssue(key, value, "must map names to values", "NAME: value pairs")
    for name, arg in value.items():
        if not matches(BUILD_ARG, name):
            return ConfigIssue(f"{key}.{name}", name, "invalid name", BUILD_ARG_RULE)
        if not isinstance(arg, (str, int, float, bool)):
            return ConfigIssue(f"{key}.{name}", arg, "invalid value", "a string or a number")
    return None


def _relative_file(key: str, value: Any) -> ConfigIssue | None:
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return ConfigIssue(key, value, "invalid file name", "a path relative to the project")
    return None


def _text(key: str, value: Any) -> ConfigIssue | None:
    if not isinstance(value, str) or not value:
        return ConfigIssue(key, value, "must be a non-empty string", "text")
    return None


def _in_project(key: str, value: Any) -> ConfigIssue | None:
    """A file or pattern of the build context: a ``..`` segment would leave it."""
    issue = _text(key, value)
    if issue is None and ".." in value.replace("\\", "/").split("/"):
        return ConfigIssue(
            key,
            value,
            "is outside the project directory: only its files are sent to the build",
            "a file or pattern relative to the project, without .., e.g. .env.example",
        )
    return issue


def _is_image_path(text: str) -> bool:
    """An absolute path in the image, with no ``..`` or empty segment."""
    return bool(IMAGE_PATH.fullmatch(text)) and ".." not in text.split("/")


WEIGHTS_FIELDS: dict[str, Validator] = {
    "url": _string(URL.fullmatch, "an http(s) URL"),
    "hf": _string(HF_REPO.fullmatch, "a Hugging Face repository such as org/model"),
    "revision": _string(REVISION.fullmatch, "a branch, tag or commit of the repository"),
    "files": _list_of(
        _string(FILE_PATTERN.fullmatch, "a file pattern"),
        "a list of file patterns such as ['*.safetensors', 'unet/']",
    ),
    "path": _string(_is_image_path, "an absolute path in the image such as /models/model.bin"),
    "sha256": _string(SHA256.fullmatch, "64 hexadecimal digits (sha256sum FILE)"),
    "secret": _string(SECRET_ID.fullmatch, "a build secret id such as MODEL_TOKEN"),
    "at": _choice(("build", "runtime")),
}

RUN_FIELDS: dict[str, Validator] = {
    "command": _text,
    "secrets": _list_of(
        _string(SECRET_ID.fullmatch, "a build secret id"),
        "a list of build secret ids such as [github_token]",
    ),
}


def _entry_rule(key: str, entry: Mapping[str, Any]) -> ConfigIssue | None:
    """What an entry needs beyond each value's own check."""
    if ("url" in entry) == ("hf" in entry):
        return ConfigIssue(key, dict(entry), "needs exactly one of url: and hf:", "url: or hf:")
    if "path" not in entry:
        return ConfigIssue(key, dict(entry), "needs path:", "the destination in the image")
    if "url" in entry:
        if "sha256" not in entry:
            return ConfigIssue(
                f"{key}.sha256", None, "is required with url:", "the file's sha256 (sha256sum FILE)"
            )
        wrong = [name for name in ("revision", "files") if name in entry]
    else:
        wrong = [name for name in ("sha256", "secret") if name in entry]
    if wrong:
        kind = "url" if "url" in entry else "hf"
        name = wrong[0]
        return ConfigIssue(f"{key}.{name}", entry[name], f"does not apply to {kind}: entries")
    return None


def _weights_entry(key: str, value: Any) -> ConfigIssue | None:
    if not isinstance(value, dict):
        return ConfigIssue(key, value, "must be a mapping", ", ".join(WEIGHTS_FIELDS))
    entry = {k: v for k, v in value.items() if v is not None}
    issues = _check_section(entry, WEIGHTS_FIELDS, f"{key}.")
    return issues[0] if issues else _entry_rule(key, entry)


def _run_step(key: str, value: Any) -> ConfigIssue | None:
    if isinstance(value, str):
        return _text(key, value.strip() and value)
    if not isinstance(value, dict):
        return ConfigIssue(key, value, "must be a command or a mapping", "command, secrets")
    issues = _check_section(value, RUN_FIELDS, f"{key}.")
    if not issues and not value.get("command"):
        issues.append(ConfigIssue(f"{key}.command", None, "is required", "a shell command"))
    return issues[0] if issues else None


_PYTHON_HINT = " (unquoted, YAML reads 3.10 as the number 3.1)"

FIELDS: dict[str, Validator] = {
    "cuda": _string(VERSION.fullmatch, 'a CUDA release such as "12.1" or "12.4.1"'),
    "python": _string(MAJOR_MINOR.fullmatch, 'a Python version such as "3.11"', _PYTHON_HINT),
    "torch": _string(VERSION.fullmatch, 'a torch release such as "2.4.1", or null for none'),
    "ubuntu": _string(MAJOR_MINOR.fullmatch, 'an Ubuntu release such as "22.04"'),
    "flavor": _choice(_FLAVORS),
    "repository": _reference(
        "an image repository such as ghcr.io/you/worker", digest=False, suffix=":latest"
    ),
    "tags": _list_of(
        _reference("an image reference such as ghcr.io/you/worker:v1", digest=False),
        "a list of image references such as [ghcr.io/you/worker:v1]",
    ),
    "handler": _relative_file,
    "requirements": _relative_file,
    "system_packages": _list_of(
        _string(DEB_PACKAGE.fullmatch, "apt package"),
        "a list of apt package names such as [ffmpeg]",
    ),
    "base_image": _reference("an image reference such as nvidia/cuda:12.4.1-base"),
    "run": _list_of(_run_step, "a list of shell commands, or {command: ..., secrets: [id]}"),
    "weights": _list_of(_weights_entry, "a list of {url: or hf:, path:, ...} entries"),
    "network": _choice(("host", "default")),
    "build_args": _build_args,
    "ca_bundle": _text,
    "platform": _text,
    "runpod_sdk": _choice(("keep", "replace")),
    "user": _string(is_user, "a non-root user name such as worker (lower case, 32 characters)"),
    "include": _list_of(
        _in_project, "a list of files or patterns in the project, e.g. [.env.example]"
    ),
    "builder": _text,
    "context": _text,
}
"""Top-level keys and their checks; ``null`` always means "use the default"."""

GPU_FIELDS: dict[str, Validator] = {
    "min_gpus": _int(1),
    "min_gpu_memory": _int(1, " (MB of free memory per GPU)"),
    "min_compute_capability": _string(MAJOR_MINOR.fullmatch, 'a compute capability such as "8.0"'),
}


def parse(path: Path) -> dict[str, Any]:
    """The raw mapping, or a ProjectConfigError if the file is not a YAML mapping."""
    try:
        data = user_yaml.load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        issue = ConfigIssue(where, None, f"not valid YAML: {exc}")
        raise ProjectConfigError(path, [issue]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProjectConfigError(
            path, [ConfigIssue("(top level)", data, "must be a mapping", "key: value lines")]
        )
    return data


def _check_section(
    raw: Mapping[str, Any],
    checks: Mapping[str, Validator],
    prefix: str = "",
    sections: Sequence[str] = (),
) -> list[ConfigIssue]:
    issues = []
    for key, value in raw.items():
        name = f"{prefix}{key}"
        check = checks.get(str(key))
        if check is None:
            keys = ", ".join([*checks, *sections])
            issues.append(ConfigIssue(name, value, "unknown key", keys))
        elif value is not None:
            issue = check(name, value)
            if issue is not None:
                issues.append(issue)
    return issues


def validate(raw: Mapping[str, Any], known_cuda: Sequence[str] = ()) -> list[ConfigIssue]:
    """Every problem in the file, in file order; empty when it is usable.

    ``known_cuda`` (from the compatibility data) turns a well-formed but
    unknown CUDA release into an error listing the releases there are.
    """
    top = {k: v for k, v in raw.items() if k != "gpu"}
    issues = _check_section(top, FIELDS, sections=["gpu"])
    gpu = raw.get("gpu")
    if gpu is not None and not isinstance(gpu, dict):
        issues.append(ConfigIssue("gpu", gpu, "must be a mapping", ", ".join(GPU_FIELDS)))
    elif gpu:
        issues += _check_section(gpu, GPU_FIELDS, "gpu.")
    cuda = raw.get("cuda")
    if (
        known_cuda
        and isinstance(cuda, str)
        and VERSION.fullmatch(cuda)
        and not any(compat.is_release_of(release, cuda) for release in known_cuda)
    ):
        issues.append(ConfigIssue("cuda", cuda, "unknown CUDA release", ", ".join(known_cuda)))
    return issues


@dataclass(frozen=True)
class ProjectConfig:
    """A validated rpbuild.yaml; ``None`` means "rpbuild image decides"."""

    path: Path
    cuda: str | None = None
    python: str | None = None
    torch: str | None = None
    ubuntu: str | None = None
    flavor: str | None = None
    repository: str | None = None
    tags: tuple[str, ...] = ()
    handler: str | None = None
    requirements: str | None = None
    system_packages: tuple[str, ...] = ()
    base_image: str | None = None
    run_steps: tuple[RunStep, ...] = ()
    """The file's ``run:``."""
    weights: tuple[WeightsSource, ...] = ()
    network: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None
    platform: str | None = None
    builder: str | None = None
    context: str | None = None
    min_gpus: int | None = None
    min_gpu_memory: int | None = None
    min_compute_capability: str | None = None
    runpod_sdk: str | None = None
    user: str | None = None
    include: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return self.path.parent


def resolve(path: Path, raw: Mapping[str, Any]) -> ProjectConfig:
    """The typed config of a validated mapping; relative paths stay relative to the file."""
    gpu = raw.get("gpu") or {}
    values = {k: v for k, v in raw.items() if k != "gpu" and v is not None}
    values.update({k: v for k, v in gpu.items() if v is not None})
    values["tags"] = tuple(values.get("tags", ()))
    values["system_packages"] = tuple(values.get("system_packages", ()))
    values["include"] = tuple(values.get("include", ()))
    values["build_args"] = {k: _yaml_scalar(v) for k, v in values.get("build_args", {}).items()}
    values["run_steps"] = tuple(_resolve_step(step) for step in values.pop("run", ()))
    values["weights"] = tuple(_resolve_weights(entry) for entry in values.get("weights", ()))
    return ProjectConfig(path=path, **values)


def _resolve_step(step: str | Mapping[str, Any]) -> RunStep:
    if isinstance(step, str):
        return RunStep(step)
    return RunStep(step["command"], tuple(step.get("secrets") or ()))


def _resolve_weights(entry: Mapping[str, Any]) -> WeightsSource:
    values = {k: v for k, v in entry.items() if v is not None}
    if "sha256" in values:
        values["sha256"] = values["sha256"].lower()
    return WeightsSource(**{**values, "files": tuple(values.get("files", ()))})


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load(directory: Path, known_cuda: Sequence[str] = ()) -> ProjectConfig | None:
    """The project's config, ``None`` when the directory has no rpbuild.yaml."""
    path = directory / FILE_NAME
    if not path.is_file():
        return None
    raw = parse(path)
    issues = validate(raw, known_cuda)
    if issues:
        raise ProjectConfigError(path, issues)
    return resolve(path, raw)
