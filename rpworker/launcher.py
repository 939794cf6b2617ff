"""The ``rpworker`` command: run a handler file the way ``python handler.py`` would.

``import runpod`` in that file resolves to rpworker's alias package, which is
put on ``sys.path`` of this process only: the wheel installs no top-level
``runpod``, so an environment with the real SDK (for its client) is untouched.
"""

from __future__ import annotations

import io
import os
import re
import runpy
import sys
from pathlib import Path

from rpworker import logs
from rpworker.sdk_alias import SHIM_DIR
from rpworker.serverless import ConfigError
from rpworker.unsupported import NotProvided
from rpworker.uploads import S3ClientMissing
from rpworker.version import __version__

HANDLER_ENV = "RPWORKER_HANDLER"

USAGE = f"""\
usage: rpworker FILE [flags...]     run a handler file (FILE may come from ${HANDLER_ENV})
       rpworker python [-u] FILE [flags...]  the same, from a template's start command
       rpworker FILE COMMAND [args...]  run COMMAND instead (`docker run IMAGE bash`)
       rpworker COMMAND [args...]  the same where COMMAND names no handler file
       rpworker gpu-check [args...]  check the GPUs and driver against the image's CUDA
       rpworker --help | --version

Flags after FILE are the SDK's: --test_input JSON, --test_output JSON,
--rp_serve_api, --rp_api_host, --rp_api_port, --rp_api_concurrency, --rp_log_level,
--rp_debugger (see `rpworker FILE --help`). Without flags FILE runs one job from ./test_input.json;
with RUNPOD_WEBHOOK_GET_JOB set (and neither --test_input nor --rp_serve_api, as the SDK) it
runs as a production worker.
"""


class LaunchError(Exception):
    """The handler file cannot be run; exit status 2."""


PYTHON = re.compile(r"python(\d+(\.\d+)?)?")


def _is_python(arg: str) -> bool:
    return PYTHON.fullmatch(os.path.basename(arg)) is not None


def _command(argv: list[str]) -> list[str] | None:
    """The command ``docker run`` gave the image's entrypoint, if it is not a worker start.

    An app image runs ``rpworker /app/FILE`` with the command appended: a word after
    FILE (not a flag) replaces the worker. A base image runs bare ``rpworker``, so a
    first word that names no handler file is that command (``docker run BASE ls``).
    """
    if not argv or argv[0].startswith("-"):
        return None
    if _is_python(argv[0]) or not _names_a_handler(argv[0]):
        return argv
    if len(argv) > 1 and not argv[1].startswith("-"):
        return argv[1:]
    return None


def _names_a_handler(word: str) -> bool:
    """A Python file: its name says so, or it is a file and no program to run."""
    path = Path(word)
    return path.suffix == ".py" or (path.is_file() and not os.access(path, os.X_OK))


def _python_handler(command: list[str]) -> list[str] | None:
    """``python [-u ...] FILE flags`` (a template's start command) as ``FILE flags``.

    None for any other command (``python -c``, ``python -m``, a bare ``python``,
    ``bash``): that one is not a worker start.
    """
    if not _is_python(command[0]):
        return None
    rest = command[1:]
    unbuffered = False
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "-":
            return None
        for index, letter in enumerate(option[1:] if not option.startswith("--") else ""):
            if letter in "cm":  # -c CODE, -m MODULE, also attached (-uc, -cCODE)
                return None
            if letter in "WX":  # takes a value, attached or next
                if index == len(option) - 2 and rest:
                    rest.pop(0)
                break
            unbuffered = unbuffered or letter == "u"
    if not rest:
        return None
    if unbuffered:
        _unbuffered()
    return [_located(rest[0]), *rest[1:]]


def _exec(command: list[str]) -> int:
    """Replace this process with ``command``, as any image's ``docker run IMAGE CMD`` does."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(
            f"rpworker: error: {command[0]}: command not found (nor a handler file: "
            "a handler's name ends in .py)",
            file=sys.stderr,
        )
        return 127
    except PermissionError:
        print(f"rpworker: error: {command[0]}: permission denied", file=sys.stderr)
        return 126


def _unbuffered() -> None:
    """``python -u``: output reaches the log as it is written, here and in children."""
    os.environ["PYTHONUNBUFFERED"] = "1"
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(write_through=True)


def _located(path: str) -> str:
    """``path``, or the file of that name in the working directory.

    Templates start ``python -u /rp_handler.py`` where their Dockerfile copied
    the handler to ``/``; rpbuild images hold it in the working directory.
    """
    if Path(path).is_file() or not Path(os.path.basename(path)).is_file():
        return path
    return os.path.basename(path)


def _handler_file(argv: list[str]) -> tuple[str, list[str]]:
    if argv and not argv[0].startswith("-"):
        return argv[0], argv[1:]
    from_env = os.environ.get(HANDLER_ENV)
    if from_env:
        return from_env, argv
    raise LaunchError(f"no handler file: run `rpworker FILE [flags]` or set {HANDLER_ENV}=FILE")


def run_file(path: str, flags: list[str]) -> int:
    """Run ``path`` as ``__main__``; it must call ``start``, which exits."""
    file = Path(path)
    if not file.is_file():
        raise LaunchError(f"handler file {path} not found (cwd: {os.getcwd()})")
    sys.argv = [path, *flags]
    logs.setup(os.environ.get("RUNPOD_LOG_LEVEL"))
    sys.path[:0] = [str(SHIM_DIR), str(file.resolve().parent)]
    runpy.run_path(path, run_name="__main__")
    raise LaunchError(
        f"{path} finished without starting the worker: end it with "
        "runpod.serverless.start({'handler': your_handler})"
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE, end="")
        return 0
    if args[:1] == ["--version"]:
        print(f"rpworker {__version__}")
        return 0
    if args[:1] == ["gpu-check"]:
        from rpworker.gpu import main as gpu_check

        return gpu_check(args[1:])
    command = _command(args)
    if command is not None:
        start = _python_handler(command)
        if start is None:
            return _exec(command)
        args = start
    try:
        path, flags = _handler_file(args)
        return run_file(path, flags)
    except (LaunchError, ConfigError, NotProvided, S3ClientMissing) as exc:
        print(f"rpworker: error: {exc}", file=sys.stderr)
        return 2
