"""Validate a job's input against a schema in the SDK's format.

Schema: ``{key: {"type": t, "required": bool, "default": v, "constraints": fn}}``.
Messages match the SDK's; unlike it, a provided value is always type- and
constraint-checked (the SDK skips both when the value has the default's type),
booleans are not accepted as numbers, a constraint that raises becomes an
error message, and the schema is never modified.
"""

from __future__ import annotations

from typing import Any

UNEXPECTED_INPUT_ERROR = "Unexpected input. {} is not a valid input option."
MISSING_REQUIRED_ERROR = "{} is a required input."
MISSING_REQUIRED_FLAG_ERROR = "Schema error, missing required for {}."
MISSING_DEFAULT_ERROR = "Schema error, missing default value for {}."
MISSING_TYPE_ERROR = "Schema error, missing type for {}."
INVALID_TYPE_ERROR = "{} should be {} type, not {}."
CONSTRAINTS_ERROR = "{} does not meet the constraints."
CONSTRAINTS_RAISED_ERROR = "{} does not meet the constraints ({}: {})."
SCHEMA_ERROR = "Schema error, {} is not a dictionary."
INPUT_TYPE_ERROR = "Input should be a JSON object, not {}."


def _type_matches(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) and expected in (int, float):
        return False
    return isinstance(value, expected)


def _check_value(key: str, value: Any, rules: dict[str, Any], errors: list[str]) -> Any:
    """The value to keep (ints become floats for float fields), recording any errors."""
    expected = rules["type"]
    if expected is float and _type_matches(value, int):
        value = float(value)
    if not _type_matches(value, expected):
        errors.append(INVALID_TYPE_ERROR.format(key, expected, type(value)))
        return value
    constraint = rules.get("constraints")
    if constraint is None:
        return value
    try:
        accepted = constraint(value)
    except Exception as exc:
        errors.append(CONSTRAINTS_RAISED_ERROR.format(key, type(exc).__name__, exc))
    else:
        if not accepted:
            errors.append(CONSTRAINTS_ERROR.format(key))
    return value


def _check_rules(key: str, rules: Any, errors: list[str]) -> bool:
    if not isinstance(rules, dict):
        errors.append(SCHEMA_ERROR.format(key))
        return False
    ok = True
    if "type" not in rules:
        errors.append(MISSING_TYPE_ERROR.format(key))
        ok = False
    if "required" not in rules:
        errors.append(MISSING_REQUIRED_FLAG_ERROR.format(key))
        ok = False
    elif not rules["required"] and "default" not in rules:
        errors.append(MISSING_DEFAULT_ERROR.format(key))
        ok = False
    return ok


def validate(raw_input: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """``{"validated_input": {...}}`` with defaults filled in, or ``{"errors": [...]}``."""
    if not isinstance(raw_input, dict):
        return {"errors": [INPUT_TYPE_ERROR.format(type(raw_input).__name__)]}
    errors = [UNEXPECTED_INPUT_ERROR.format(key) for key in raw_input if key not in schema]
    validated = dict(raw_input)
    for key, rules in schema.items():
        if not _check_rules(key, rules, errors):
            continue
        if key in raw_input:
            validated[key] = _check_value(key, raw_input[key], rules, errors)
        elif rules["required"]:
            errors.append(MISSING_REQUIRED_ERROR.format(key))
        else:
            validated[key] = rules["default"]
    return {"errors": errors} if errors else {"validated_input": validated}
