"""``import runpod`` under rpworker: the SDK's worker-side names, on rpworker.

The SDK's client side (``Endpoint``, ``create_pod``, ...) is not here: using
one of its names raises an error that says where to get it.
"""

import os
from typing import Any

from rpworker import unsupported
from rpworker.logs import RunPodLogger
from rpworker.version import __version__

from . import serverless

SSH_KEY_PATH = os.path.expanduser("~/.runpod/ssh")
profile = "default"
api_key: "str | None" = os.environ.get("RUNPOD_API_KEY")
endpoint_url_base = os.environ.get("RUNPOD_ENDPOINT_BASE_URL", "https://api.runpod.ai/v2")


def __getattr__(name: str) -> Any:
    raise unsupported.explain(__name__, name)


__all__ = [
    "SSH_KEY_PATH",
    "RunPodLogger",
    "__version__",
    "api_key",
    "endpoint_url_base",
    "profile",
    "serverless",
]
