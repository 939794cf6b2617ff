"""The only module that talks to Docker: builds, inspects and runs through the CLI,
pushes and image lookups through the docker SDK.

Engine messages become typed errors here; callers never parse docker output. The
docker SDK for Python has no BuildKit, so builds drive the CLI:
``docker buildx build --load`` when the buildx plugin works, else
``DOCKER_BUILDKIT=1 docker build`` with a client older than 23.0 (newer clients
refuse BuildKit without buildx). The SDK gives pushes as a stream of records.

Both find the engine the same way, the CLI's: ``DOCKER_HOST``, else the
``DOCKER_CONTEXT`` or current ``docker context`` (the SDK does so from 7.2 on,
rpbuild's floor).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors

from builder.errors import BuildError, DockerUnavailableError, GpuUnavailableError, RpbuildError

CLIENT_CANDIDATES = ("docker", "/usr/bin/docker", "/usr/local/bin/docker")
TAIL_LINES = 30
_STEP = re.compile(r"^#(\d+) (\[.*)$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_STEP_LINE = re.compile(r"^#(\d+) (?:\d+\.\d+ )?(.*)$")

Sink = Callable[[str], None]


@dataclass(frozen=True)
class Builder:
    """How to build: the command prefix, extra env, and the client for other calls.

    ``engine_args`` (``--context NAME``) select the engine every call of this builder
    talks to, so the build, the image inspection and the truth check's run all happen
    on that engine, local or not.
    """

    client: str
    build_argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    engine_args: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "buildx" if "buildx" in self.build_argv else "classic BuildKit"

    @property
    def docker(self) -> list[str]:
        """The client with the engine selected: prefix of every non-build call."""
        return [self.client, *self.engine_args]


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    build_args: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    platform: str | None = None
    no_cache: bool = False
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    network: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    id: str
    labels: dict[str, str]
    env: dict[str, str]
    layers: tuple[str, ...]


def _run(argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout)


def _clients(candidates: Sequence[str]) -> list[str]:
    """The distinct docker clients among ``candidates``, in order; none is an error."""
    found: dict[str, str] = {}
    for candidate in candidates:
        if path := shutil.which(candidate):
            found.setdefault(os.path.realpath(path), path)
    if not found:
        raise DockerUnavailableError(
            "no docker client found on PATH; install Docker (Debian/Ubuntu: docker.io)"
        )
    return list(found.values())


def _client_major(client: str) -> int:
    done = _run([client, "version", "--format", "{{.Client.Version}}"])
    match = re.match(r"(\d+)\.", done.stdout.strip())
    return int(match.group(1)) if match else 0


def find_builder(
    candidates: Sequence[str] = CLIENT_CANDIDATES,
    *,
    context: str | None = None,
    buildx_builder: str | None = None,
) -> Builder:
    """The first client with buildx, else one whose built-in BuildKit still works.

    ``context`` is a docker context (another engine); ``buildx_builder`` a buildx builder
    (a remote or Kubernetes BuildKit), which needs the buildx plugin.
    """
    clients = _clients(candidates)
    engine = ("--context", context) if context else ()
    for client in clients:
        if _run([client, "buildx", "version"]).returncode == 0:
            chosen = ("--builder", buildx_builder) if buildx_builder else ()
            argv = (client, *engine, "buildx", "build", "--load", *chosen)
            return Builder(client, argv, engine_args=engine)
    if buildx_builder:
        raise DockerUnavailableError(
            f"--builder {buildx_builder} needs the buildx plugin, which no docker client here "
            f"has ({', '.join(clients)}): install it (docker-buildx-plugin, or Debian's "
            "docker-buildx) into ~/.docker/cli-plugins/"
        )
    for client in clients:
        if 0 < _client_major(client) < 23:
            argv = (client, *engine, "build")
            return Builder(client, argv, (("DOCKER_BUILDKIT", "1"),), engine)
    raise DockerUnavailableError(
        f"no docker client here can build with BuildKit ({', '.join(clients)}): install the "
        "buildx plugin (docker-buildx-plugin, or Debian's docker-buildx) into "
        "~/.docker/cli-plugins/, or use a docker client older than 23.0"
    )


def check_engine(builder: Builder) -> None:
    """Asks the engine its version: one cheap call (``docker info`` gathers much more)."""
    done = _run([*builder.docker, "version", "--format", "{{.Server.Version}}"])
    if done.returncode != 0 or not done.stdout.strip():
        where = " ".join(builder.engine_args) or "the default engine"
        raise DockerUnavailableError(
            f"cannot reach a Docker engine ({where}): {done.stderr.strip()[-300:]}\n"
            "Start it (e.g. `dockerd &`, or `systemctl start docker`), set DOCKER_HOST, or "
            "name an existing context (`docker context ls`)."
        )


def build_argv(builder: Builder, request: BuildRequest, iidfile: Path) -> list[str]:
    argv = [*builder.build_argv, "--progress=plain", "-f", str(request.dockerfile)]
    argv += ["--iidfile", str(iidfile)]
    for tag in request.tags:
        argv += ["-t", tag]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    for key, value in request.build_args:
        argv += ["--build-arg", f"{key}={value}"]
    for secret in request.secrets:
        argv += ["--secret", secret]
    if request.platform:
        argv += ["--platform", request.platform]
    if request.network:
        argv += ["--network", request.network]
    if request.no_cache:
        argv.append("--no-cache")
    argv += [arg for ref in request.cache_from for arg in ("--cache-from", ref)]
    argv += [arg for ref in request.cache_to for arg in ("--cache-to", ref)]
    argv.append(str(request.context))
    return argv


class StepLog:
    """Follows BuildKit's plain progress output to name the failing step."""

    def __init__(self) -> None:
        self.titles: dict[str, str] = {}
        self.lines: dict[str, deque[str]] = {}
        self.failed: str | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, line: str) -> None:
        self.tail.append(line)
        if step := _STEP.match(line):
            self.titles.setdefault(step.group(1), step.group(2))
        if error := _STEP_ERROR.match(line):
            self.failed = self.failed or error.group(1)
        if entry := _STEP_LINE.match(line):
            self.lines.setdefault(entry.group(1), deque(maxlen=TAIL_LINES)).append(entry.group(2))

    def error(self, returncode: int) -> BuildError:
        if self.failed is not None:
            return BuildError(
                f"docker build failed (exit {returncode})",
                step=self.titles.get(self.failed, f"#{self.failed}"),
                log_tail=list(self.lines.get(self.failed, ())),
            )
        return BuildError(f"docker build failed (exit {returncode})", log_tail=list(self.tail))


def build(builder: Builder, request: BuildRequest, sink: Sink) -> str:
    """Build and load ``request``; stream every output line to ``sink``; return the image id."""
    with tempfile.TemporaryDirectory(prefix="rpbuild-iid-") as tmp:
        iidfile = Path(tmp) / "iid"
        argv = build_argv(builder, request, iidfile)
        log = StepLog()
        with subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **dict(builder.env)},
        ) as process:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.rstrip("\n")
                sink(line)
                log.feed(line)
        if process.returncode != 0:
            raise log.error(process.returncode)
        return iidfile.read_text(encoding="utf-8").strip()


class ImageNotFoundError(RpbuildError):
    """The engine has no such image; `rpbuild test`/`up` would otherwise try to pull it."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(
            f"image {ref} not found in the engine: build it with `rpbuild image` "
            f"(or pull it: docker pull {ref})"
        )


def inspect(builder: Builder, ref: str) -> ImageInfo:
    done = _run([*builder.docker, "image", "inspect", "--format", "{{json .}}", ref])
    if done.returncode != 0:
        if "no such" in done.stderr.lower():
            raise ImageNotFoundError(ref)
        raise RpbuildError(f"cannot inspect the image {ref}: {done.stderr.strip()}")
    data: dict[str, Any] = json.loads(done.stdout)
    config = data.get("Config") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    return ImageInfo(
        id=data["Id"],
        labels=dict(config.get("Labels") or {}),
        env=env,
        layers=tuple((data.get("RootFS") or {}).get("Layers") or ()),
    )


@dataclass(frozen=True)
class Layer:
    """One step of an image's history: the bytes it added and the instruction that did."""

    size: int
    created_by: str


def layers(builder: Builder, ref: str) -> tuple[Layer, ...]:
    """The image's history, oldest step first; steps that add no files have size 0."""
    done = _run(
        [*builder.docker, "history", "--human=false", "--no-trunc", "--format", "{{json .}}", ref]
    )
    if done.returncode != 0:
        raise RpbuildError(f"no history for image {ref}: {done.stderr.strip()}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return tuple(
        Layer(int(row.get("Size") or 0), row.get("CreatedBy", "")) for row in reversed(rows)
    )


def run_python(
    builder: Builder, ref: str, script: str, platform: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c script`` in ``ref`` once, without network, bypassing the entrypoint."""
    argv = [*builder.docker, "run", "--rm", "--network", "none", "--entrypoint", "python"]
    argv += ["--platform", platform] if platform else []
    return _run([*argv, ref, "-c", script], timeout=300)


def context_host(context: str) -> str:
    """The engine address of a docker context (for the docker SDK, which cannot read them)."""
    done = _run([client(), "context", "inspect", context, "--format", "{{.Endpoints.docker.Host}}"])
    if done.returncode != 0 or not done.stdout.strip():
        raise DockerUnavailableError(
            f"no docker context {context!r}: {done.stderr.strip()[-300:]}\n"
            "List them with `docker context ls`; create one with "
            "`docker context create NAME --docker host=...`."
        )
    return done.stdout.strip()


_LIST_PUSHED = re.compile(r"pushing (sha256:[0-9a-f]{64}) to (\S+)")


def create_list(target: str, sources: Sequence[str], env: Mapping[str, str]) -> str:
    """Assemble the manifest list ``target`` in its registry from pushed ``sources``
    (name@digest, one per platform); return the list's digest.

    The registry does the work (``buildx imagetools create``): no engine holds a list.
    """
    argv = [client(), "buildx", "imagetools", "create", "--progress=plain", "-t", target]
    done = subprocess.run(
        [*argv, *sources], capture_output=True, text=True, check=False, timeout=600, env=env
    )
    pushed = _LIST_PUSHED.search(done.stdout + done.stderr)
    if done.returncode != 0 or pushed is None:
        raise RpbuildError(
            f"could not create the manifest list {target} from {', '.join(sources)}: "
            f"{(done.stderr or done.stdout).strip()[-800:]}"
        )
    return pushed.group(1)


def client() -> str:
    """The docker client for everything but builds (any version runs containers)."""
    return _clients(CLIENT_CANDIDATES)[0]


def labelled_containers(label: str) -> dict[str, str]:
    """Every container carrying ``label``, running or not: its name and the label's value."""
    listed = _run(
        [client(), "ps", "--all", "--filter", f"label={label}", "--format",
         f'{{{{.Names}}}} {{{{.Label "{label}"}}}}'],
        timeout=60,
    )  # fmt: skip
    rows = (line.partition(" ") for line in listed.stdout.splitlines())
    return {name: value for name, _, value in rows}


def remove_containers(names: Sequence[str]) -> None:
    """``docker rm --force``: gone, running or not."""
    if names:
        _run([client(), "rm", "--force", *names])


def has_nvidia_runtime() -> bool:
    """Whether this engine can give containers GPUs (the NVIDIA runtime is installed)."""
    done = _run([client(), "info", "--format", "{{json .Runtimes}}"], timeout=30)
    return done.returncode == 0 and "nvidia" in done.stdout


_ENGINE_FAILED = 125
"""``docker run``'s status when the engine, not the container, failed."""


def run_container(
    image: str,
    args: Sequence[str],
    sink: Sink,
    options: Sequence[str] = (),
    errors: Sink | None = None,
) -> int:
    """``docker run --rm OPTIONS IMAGE ARGS``: every output line as it comes, to ``sink``;
    with ``errors``, the container's stderr goes there instead.

    Keep the streams apart to parse stdout: the engine interleaves them in chunks,
    not lines, so merged, a log line can land inside a line of output (merged, lines
    keep the order they came in). Returns the container's exit status; an image the
    engine cannot start is an error naming the image.
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    lock = threading.Lock()

    def pump(stream: IO[str], to: Sink) -> None:
        for raw in stream:
            with lock:
                tail.append(raw.rstrip("\n"))
                to(tail[-1])

    argv = [client(), "run", "--rm", *options, image, *args]
    stderr = subprocess.STDOUT if errors is None else subprocess.PIPE
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True) as run:
        assert run.stdout is not None
        other = None
        if errors is not None:
            assert run.stderr is not None
            other = threading.Thread(target=pump, args=(run.stderr, errors), daemon=True)
            other.start()
        pump(run.stdout, sink)
        if other is not None:
            other.join()
    if run.returncode == _ENGINE_FAILED:
        said = " ".join(tail)
        if "could not select device driver" in said:
            raise GpuUnavailableError(
                "this Docker engine cannot give containers a GPU (no NVIDIA runtime): install "
                "the NVIDIA Container Toolkit, run `nvidia-ctk runtime configure --runtime=docker` "
                "and restart dockerd, or use a machine with a GPU"
            )
        raise RpbuildError(f"docker could not run {image}: {said[-500:]}")
    return run.returncode


class Container:
    """A detached container on the host network; its output is kept in a log file."""

    def __init__(self, process: subprocess.Popen[str], name: str, log: Path) -> None:
        self.process = process
        self.name = name
        self.log = log

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()[-TAIL_LINES:]


@contextlib.contextmanager
def serving_container(image: str, args: Sequence[str]) -> Iterator[Container]:
    """Run IMAGE with ``--network host`` (reachable on 127.0.0.1, never through the
    bridge) until the block ends, then remove it."""
    name = f"rpbuild-{uuid.uuid4().hex[:12]}"
    cli = client()
    with tempfile.TemporaryDirectory(prefix="rpbuild-run-") as tmp:
        log = Path(tmp) / "container.log"
        with log.open("w") as output:
            argv = [cli, "run", "--rm", "--name", name, "--network", "host", image, *args]
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            yield Container(process, name, log)
        finally:
            _run([cli, "rm", "--force", name])
            process.wait(timeout=60)


class EngineError(RpbuildError):
    """The engine refused a request; the message is its own, for the caller to classify."""


@dataclass(frozen=True)
class LocalImage:
    id: str
    short_id: str
    size: int
    labels: dict[str, str]


class Sdk:
    """The docker SDK's view of the engine: image lookups and push streams."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    def image(self, ref: str) -> LocalImage | None:
        """The local image ``ref`` names, or None."""
        try:
            found = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.DockerException as exc:
            raise DockerUnavailableError(
                f"the Docker engine failed to look up {ref}: {exc}"
            ) from exc
        size = int(found.attrs.get("Size", 0))
        return LocalImage(str(found.id), str(found.short_id), size, dict(found.labels))

    def push(
        self, name: str, tag: str, auth: Mapping[str, str] | None
    ) -> Iterator[Mapping[str, Any]]:
        """The engine's push stream for ``name:tag``, record by record.

        A refused request is an EngineError carrying the engine's message."""
        try:
            yield from self.client.images.push(
                name, tag, stream=True, decode=True, auth_config=dict(auth) if auth else None
            )
        except docker.errors.APIError as exc:
            raise EngineError(str(exc.explanation or exc)) from exc
        except docker.errors.DockerException as exc:
            raise DockerUnavailableError(
                f"the Docker engine failed during the push: {exc}"
            ) from exc


def _connection() -> dict[str, Any]:
    """Where the engine is, found as the CLI finds it: ``DOCKER_HOST`` (with its TLS
    variables), else ``DOCKER_CONTEXT`` or the current context of the docker config."""
    params: dict[str, Any] = docker.utils.kwargs_from_env()
    if "base_url" not in params:
        params |= docker.ContextAPI.kwargs_from_context()
    return params


def sdk(context: str | None = None) -> Sdk:
    """The SDK's client for the engine the CLI would use, or that of docker ``context``."""
    params = {"base_url": context_host(context)} if context else _connection()
    where = params.get("base_url", "the default socket")
    try:
        client = docker.DockerClient(**params)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(
            f"no Docker engine answers at {where} ({exc}): start dockerd, or point "
            "DOCKER_HOST or `docker context use` at one"
        ) from exc
    return Sdk(client)
