"""``runpod.serverless``: start a worker and report progress."""

from rpworker.progress import progress_update
from rpworker.serverless import start
from rpworker.version import __version__ as runpod_version

from . import modules, utils

__all__ = ["modules", "progress_update", "runpod_version", "start", "utils"]
