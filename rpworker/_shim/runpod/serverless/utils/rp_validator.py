"""``runpod.serverless.utils.rp_validator``: the input validator."""

from rpworker.validator import validate

__all__ = ["validate"]
