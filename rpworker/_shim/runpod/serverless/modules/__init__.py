"""``runpod.serverless.modules``: the SDK modules handlers reach into."""

from . import rp_http, rp_logger, rp_progress

__all__ = ["rp_http", "rp_logger", "rp_progress"]
