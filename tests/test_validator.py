"""The input validator: the SDK's schema format and messages, without its defects."""

from __future__ import annotations

from typing import Any

from rpworker.validator import validate

SCHEMA: dict[str, Any] = {
    "prompt": {"type": str, "required": True},
    "steps": {"type": int, "required": False, "default": 10, "constraints": lambda x: x > 0},
    "scale": {"type": float, "required": False, "default": 7.5},
}


def test_defaults_filled_and_ints_widened_to_float() -> None:
    assert validate({"prompt": "cat", "scale": 3}, SCHEMA) == {
        "validated_input": {"prompt": "cat", "steps": 10, "scale": 3.0}
    }


def test_constraint_checked_even_when_value_has_the_default_type() -> None:
    assert validate({"prompt": "cat", "steps": -5}, SCHEMA) == {
        "errors": ["steps does not meet the constraints."]
    }


def test_every_error_reported_in_sdk_wording() -> None:
    result = validate({"steps": "many", "seed": 1}, SCHEMA)
    assert result == {
        "errors": [
            "Unexpected input. seed is not a valid input option.",
            "prompt is a required input.",
            "steps should be <class 'int'> type, not <class 'str'>.",
        ]
    }


def test_bool_is_not_a_number() -> None:
    assert validate({"prompt": "x", "steps": True}, SCHEMA) == {
        "errors": ["steps should be <class 'int'> type, not <class 'bool'>."]
    }


def test_constraint_that_raises_becomes_a_message() -> None:
    schema = {"size": {"type": str, "required": True, "constraints": lambda s: int(s) > 1}}
    assert validate({"size": "big"}, schema) == {
        "errors": [
            "size does not meet the constraints "
            "(ValueError: invalid literal for int() with base 10: 'big')."
        ]
    }


def test_schema_errors() -> None:
    schema: dict[str, Any] = {
        "a": "not a dict",
        "b": {"required": True},
        "c": {"type": int},
        "d": {"type": int, "required": False},
    }
    assert validate({}, schema) == {
        "errors": [
            "Schema error, a is not a dictionary.",
            "Schema error, missing type for b.",
            "Schema error, missing required for c.",
            "Schema error, missing default value for d.",
        ]
    }


def test_input_must_be_an_object() -> None:
    assert validate(["prompt"], SCHEMA) == {"errors": ["Input should be a JSON object, not list."]}


def test_schema_and_input_left_untouched() -> None:
    raw = {"prompt": "cat"}
    schema = {"prompt": {"type": str, "required": True}}
    validate(raw, schema)
    assert raw == {"prompt": "cat"}
    assert schema == {"prompt": {"type": str, "required": True}}
