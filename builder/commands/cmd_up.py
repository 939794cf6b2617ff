"""`rpbuild up [IMAGE | DIR]`: a local serverless endpoint, run the way the platform runs it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from builder import engine
from builder.commands.base import Command, pass_output
from builder.commands.cmd_serve import handler_file
from builder.dev.image_run import read_input
from builder.endpoint.launchers import (
    ContainerLauncher,
    Launcher,
    ProcessLauncher,
    remove_orphans,
)
from builder.endpoint.pool import Scaler, ScalerSettings
from builder.endpoint.server import Endpoint
from builder.errors import BadReferenceError, InputError, Source
from builder.output import Output
from builder.registry.reference import parse_ref
from rpworker import playground
from rpworker.gpu import Mode
from rpworker.test_mode import INPUT_FILE

_TARGET = Source("IMAGE | DIR")


def _launcher(
    target: str, handler: str | None, gpus: str, gpu_check: str | None, env: dict[str, str]
) -> tuple[Launcher, str]:
    """The launcher for ``target`` and the text to prefill the playground with."""
    extra = {**env, **({"RPWORKER_GPU_CHECK": gpu_check} if gpu_check else {})}
    directory = Path(target)
    if directory.is_dir():
        launcher: Launcher = ProcessLauncher(
            directory.resolve(), handler_file(directory, handler), extra
        )
        return launcher, playground.test_input(directory)
    _refuse_a_missing_directory(target)
    builder = engine.find_builder()
    engine.inspect(builder, target)
    chosen = {"auto": "all" if engine.has_nvidia_runtime() else None, "none": None}.get(gpus, gpus)
    launcher = ContainerLauncher(target, f"rpbuild-up-{Path.cwd().name}", chosen, extra)
    return launcher, image_test_input(builder, target)


def _refuse_a_missing_directory(target: str) -> None:
    """A TARGET that is not a directory is an image, unless it can only be a path: it
    names a file, starts like a path (/, ., ~) or is no image reference at all."""
    if Path(target).expanduser().exists():
        raise InputError(f"{target} is a file: name a project directory or an image", _TARGET)
    missing = f"directory {target} does not exist"
    if target.startswith(("/", ".", "~")):
        raise InputError(f"{missing}: name a project directory or an image", _TARGET)
    try:
        parse_ref(target)
    except BadReferenceError as error:
        raise InputError(
            f"{missing}, and it is no image reference: {error.reason}", _TARGET
        ) from None


def image_test_input(builder: engine.Builder, image: str) -> str:
    """./test_input.json, else the one in the image's working directory, else an empty job."""
    if Path(INPUT_FILE).is_file():
        return playground.test_input(Path.cwd())
    read = engine.run_python(builder, image, f"print(open({INPUT_FILE!r}).read(), end='')")
    return read.stdout if read.returncode == 0 and read.stdout.strip() else playground.DEFAULT_INPUT


def _env_pair(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=["--env"])
        pairs[key] = rest
    return pairs


@click.command("up", cls=Command)
@click.argument("target", default=".", metavar="[IMAGE | DIR]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--endpoint-id", default="local", show_default=True, help="The id in /v2/ID/...")
@click.option("--handler", metavar="FILE", help="Handler file in DIR [default: rpbuild.yaml's].")
@click.option("--min-workers", default=1, show_default=True, type=click.IntRange(0))
@click.option("--max-workers", default=3, show_default=True, type=click.IntRange(1))
@click.option(
    "--idle-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds an idle worker above --min-workers lives.",
)
@click.option(
    "--scaler",
    type=click.Choice([s.value for s in Scaler]),
    default=Scaler.QUEUE_DELAY.value,
    show_default=True,
    help="queue-delay: add a worker when a job waited --scaler-value s; "
    "request-count: one worker per --scaler-value jobs.",
)
@click.option("--scaler-value", default=4.0, show_default=True, type=click.FloatRange(min=0.001))
@click.option(
    "--gpus",
    default="auto",
    show_default=True,
    help="docker run --gpus for containers: auto (all when the engine has the NVIDIA "
    "runtime), none, or a --gpus value.",
)
@click.option(
    "--gpu-check",
    type=click.Choice([m.value for m in Mode]),
    help="Set the workers' RPWORKER_GPU_CHECK [default: the image's own, strict in "
    "production]; warn or off relax it where there is no GPU.",
)
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Job file to prefill the playground with [default: test_input.json of DIR, "
    "or ./test_input.json, or the image's].",
)
@click.option(
    "-e", "--env", "env", multiple=True, callback=_env_pair, metavar="KEY=VALUE",
    help="An extra variable for every worker (repeatable).",
)  # fmt: skip
@pass_output
def up(
    out: Output,
    target: str,
    host: str,
    port: int,
    endpoint_id: str,
    handler: str | None,
    min_workers: int,
    max_workers: int,
    idle_timeout: float,
    scaler: str,
    scaler_value: float,
    gpus: str,
    gpu_check: str | None,
    input_file: Path | None,
    env: dict[str, str],
) -> None:
    """Serve IMAGE (workers are its containers) or the handler in DIR (workers are
    local rpworker processes) as a serverless endpoint: the hosted API at
    /v2/ENDPOINT_ID/run, runsync, stream, status, cancel, health, purge-queue,
    workers that take jobs over the platform's protocol and scale with the queue,
    and a playground at /. Ctrl-C stops every worker."""
    if min_workers > max_workers:
        raise click.BadParameter(
            f"--min-workers {min_workers} is more than --max-workers {max_workers}",
            param_hint=["--min-workers"],
        )
    launcher, test_input = _launcher(target, handler, gpus, gpu_check, env)
    if isinstance(launcher, ContainerLauncher) and (orphans := remove_orphans()):
        out.warn(
            f"removed {len(orphans)} worker container(s) left by an rpbuild up that was "
            f"killed: {', '.join(orphans)}"
        )
    if input_file is not None:
        read_input(input_file)
        test_input = input_file.read_text(encoding="utf-8")
    if gpu_check in (Mode.WARN.value, Mode.OFF.value):
        out.warn(f"the workers' GPU check is relaxed (RPWORKER_GPU_CHECK={gpu_check})")
    settings = ScalerSettings(
        min_workers=min_workers,
        max_workers=max_workers,
        idle_timeout_s=idle_timeout,
        scaler=Scaler(scaler),
        scaler_value=scaler_value,
    )
    endpoint = Endpoint(
        launcher,
        scaler=settings,
        endpoint_id=endpoint_id,
        host=host,
        port=port,
        playground_input=test_input,
        event=out.info,
        sink=lambda worker_id, line: out.info(f"{worker_id} | {line}"),
    )
    try:
        asyncio.run(_serve(endpoint, out))
    except OSError as exc:
        raise click.BadParameter(
            f"cannot listen on {host}:{port} ({exc}); choose another --port", param_hint=["--port"]
        ) from None


async def _serve(endpoint: Endpoint, out: Output) -> None:
    """Until Ctrl-C or SIGTERM; every worker is stopped on the way out."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with endpoint:
        out.info(f"endpoint {endpoint.endpoint_id} at {endpoint.url}, playground at /")
        out.info(f"clients: RUNPOD_ENDPOINT_BASE_URL={endpoint.api_url}; Ctrl-C stops")
        pool = asyncio.ensure_future(endpoint.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({pool, stopped}, return_when=asyncio.FIRST_COMPLETED)
        out.info("stopping every worker (Ctrl-C again kills them)")
        killing: set[asyncio.Future[None]] = set()  # referenced until done

        def kill_all() -> None:
            killing.add(asyncio.ensure_future(endpoint.pool.kill_all()))

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, kill_all)
        stopped.cancel()
        if pool.done():
            pool.result()
