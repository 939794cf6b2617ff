"""``runpod.serverless.utils.rp_debugger``: timings returned under ``--rp_debugger``."""

from rpworker.debugger import (
    OS_INFO,
    PROCESSOR,
    PYTHON_VERSION,
    Checkpoints,
    FunctionTimer,
    LineTimer,
    clear_debugger_output,
    get_debugger_output,
)

__all__ = [
    "OS_INFO",
    "PROCESSOR",
    "PYTHON_VERSION",
    "Checkpoints",
    "FunctionTimer",
    "LineTimer",
    "clear_debugger_output",
    "get_debugger_output",
]
