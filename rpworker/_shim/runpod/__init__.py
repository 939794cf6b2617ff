"""``import runpod`` under ``rpworker FILE``: the SDK's worker-side names, on rpworker."""

from rpworker.logs import RunPodLogger
from rpworker.version import __version__

from . import serverless

__all__ = ["RunPodLogger", "__version__", "serverless"]
