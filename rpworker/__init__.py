"""rpworker: the worker runtime baked into every rpbuild image."""

from rpworker.progress import progress_update
from rpworker.serverless import start
from rpworker.validator import validate
from rpworker.version import __version__

__all__ = ["__version__", "progress_update", "start", "validate"]
