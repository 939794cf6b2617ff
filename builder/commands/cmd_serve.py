"""`rpbuild serve [DIR]`: the handler behind the local API, restarted on every edit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from builder.build.options import load_project, resolve_options
from builder.commands.base import Command, pass_output
from builder.dev.reload import Supervisor, answers
from builder.output import Output

_LAUNCH = "import sys; from rpworker.launcher import main; sys.exit(main())"
"""The runtime's launcher with this interpreter, wherever its console script is installed."""


def worker_command(handler: str, host: str, port: int) -> list[str]:
    """``rpworker HANDLER --rp_serve_api ...`` as the interpreter running rpbuild."""
    flags = ["--rp_serve_api", "--rp_api_host", host, "--rp_api_port", str(port)]
    return [sys.executable, "-c", _LAUNCH, handler, *flags]


def handler_file(directory: Path, handler: str | None) -> str:
    """``--handler``, else rpbuild.yaml's, else handler.py: a file that must exist in DIR."""
    flags = {"handler": directory / handler} if handler else {}
    chosen = resolve_options(directory, flags, load_project(directory)).options.handler
    path = chosen or directory / "handler.py"
    if not path.is_file():
        raise click.BadParameter(
            f"{path} does not exist; create it (rpbuild init) or name the file with --handler",
            param_hint=["--handler"],
        )
    return path.relative_to(directory).as_posix()


def _probe_host(host: str) -> str:
    """Where to connect to see whether a server bound to ``host`` is up."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


@click.command("serve", cls=Command)
@click.argument(
    "directory", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--handler",
    metavar="FILE",
    help="Handler file, relative to DIRECTORY [default: rpbuild.yaml's handler, or handler.py].",
)
@pass_output
def serve(out: Output, directory: Path, host: str, port: int, handler: str | None) -> None:
    """Run the handler in DIRECTORY behind the local API (/run, /runsync, /stream,
    /status, ...) and restart it whenever a file in DIRECTORY changes. Ctrl-C stops."""
    handler = handler_file(directory, handler)
    probe = (_probe_host(host), port)
    if answers(probe):
        # Else the readiness probe would take the other server for the worker.
        raise click.BadParameter(
            f"something already listens on {host}:{port}; stop it or choose another --port",
            param_hint=["--port"],
        )
    url = f"http://{host}:{port}"
    out.info(f"serving {directory / handler} on {url} (playground at {url}/); Ctrl-C stops")
    supervisor = Supervisor(
        command=worker_command(handler, host, port),
        directory=directory,
        out=out,
        ready_address=probe,
    )
    sys.exit(supervisor.run())
