"""``runpod.serverless``: start a worker and report progress."""

from typing import Any

from rpworker import unsupported
from rpworker.progress import progress_update
from rpworker.serverless import start
from rpworker.version import __version__ as runpod_version

from . import modules, utils


def __getattr__(name: str) -> Any:
    raise unsupported.explain(__name__, name)


__all__ = ["modules", "progress_update", "runpod_version", "start", "utils"]
