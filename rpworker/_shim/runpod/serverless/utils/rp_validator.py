"""``runpod.serverless.utils.rp_validator``: the input validator and its messages."""

from rpworker.validator import (
    CONSTRAINTS_ERROR,
    INVALID_TYPE_ERROR,
    MISSING_DEFAULT_ERROR,
    MISSING_REQUIRED_ERROR,
    MISSING_TYPE_ERROR,
    SCHEMA_ERROR,
    UNEXPECTED_INPUT_ERROR,
    validate,
)

__all__ = [
    "CONSTRAINTS_ERROR",
    "INVALID_TYPE_ERROR",
    "MISSING_DEFAULT_ERROR",
    "MISSING_REQUIRED_ERROR",
    "MISSING_TYPE_ERROR",
    "SCHEMA_ERROR",
    "UNEXPECTED_INPUT_ERROR",
    "validate",
]
