"""The command-line flags the reference SDK reads from ``sys.argv`` in ``start``.

Flags follow the handler file (``python handler.py --rp_serve_api``), so they
are parsed at ``start`` time, not by the launcher; like the SDK, flags we do
not know stay in ``sys.argv`` for the handler's own parsing.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

LOG_LEVELS = ("DEBUG", "INFO", "WARN", "WARNING", "ERROR")


@dataclass(frozen=True)
class Flags:
    log_level: str | None = None
    log_level_flag: str | None = None
    debugger: bool = False
    serve_api: bool = False
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_concurrency: int = 1
    test_input: str | None = None
    test_output: str | None = None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0 picks a free port), got {value}")
    return value


def _level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"choose one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a RunPod-style handler: one test job, a local API, or the "
        "production worker when RUNPOD_WEBHOOK_GET_JOB is set.",
    )
    add = parser.add_argument
    add("--rp_log_level", type=_level, metavar="LEVEL", help="DEBUG, INFO, WARN or ERROR")
    add(
        "--rp_debugger",
        action="store_true",
        help="add timings (rp_debugger) to dict outputs",
    )
    add("--rp_serve_api", action="store_true", help="serve the local API instead of one test job")
    add("--rp_api_host", default="127.0.0.1", metavar="HOST", help="default: %(default)s")
    add("--rp_api_port", type=_port, default=8000, metavar="PORT", help="default: %(default)s")
    add(
        "--rp_api_concurrency",
        type=_positive,
        default=1,
        metavar="N",
        help="jobs the local API runs at once (default: %(default)s)",
    )
    add("--test_input", metavar="JSON", help="the test job, e.g. '{\"input\": {...}}'")
    add("--test_output", metavar="JSON", help="the expected output; the run fails if it differs")
    return parser


def parse_flags() -> Flags:
    """Read the runtime flags from ``sys.argv`` and leave only unknown ones there."""
    prog = f"rpworker {os.path.basename(sys.argv[0])}" if sys.argv and sys.argv[0] else "rpworker"
    args, unknown = _parser(prog).parse_known_args(sys.argv[1:])
    sys.argv = sys.argv[:1] + unknown
    return Flags(
        log_level=args.rp_log_level or os.environ.get("RUNPOD_LOG_LEVEL"),
        log_level_flag=args.rp_log_level,
        debugger=args.rp_debugger,
        serve_api=args.rp_serve_api,
        api_host=args.rp_api_host,
        api_port=args.rp_api_port,
        api_concurrency=args.rp_api_concurrency,
        test_input=args.test_input,
        test_output=args.test_output,
    )
