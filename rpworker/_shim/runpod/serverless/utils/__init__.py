"""``runpod.serverless.utils``: the helpers handlers import."""

from . import rp_cleanup, rp_validator

__all__ = ["rp_cleanup", "rp_validator"]
