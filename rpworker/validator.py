"""Validate a job's input against a schema in the SDK's format, with the SDK's results.

Schema: ``{key: {"type": t, "required": bool, "default": v, "constraints": fn}}``.
Results and messages are the SDK's, quirks included, because public workers
depend on them:

- a value that has the type of the key's default skips the type check and
  the constraint (explicit ``null`` passes for a default of ``None``; a
  default that fails its own constraint is accepted);
- an int (not a bool) for a ``float`` key becomes a float;
- an optional key without a default is accepted when given and reported
  ("missing default value") when absent;
- a missing ``required`` flag is reported as "<key> is a required input.".

Where the SDK raises instead of answering (a constraint that raises, a
``type`` that is not a type, a schema entry without ``type`` for a given key,
an input that is not an object) an error message is returned instead. Where
it skips a constraint that would have failed, the input is accepted as the
SDK does and one warning names the key, so the schema bug becomes visible.
The schema is never modified.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("rpworker.validator")

UNEXPECTED_INPUT_ERROR = "Unexpected input. {} is not a valid input option."
MISSING_REQUIRED_ERROR = "{} is a required input."
MISSING_DEFAULT_ERROR = "Schema error, missing default value for {}."
MISSING_TYPE_ERROR = "Schema error, missing type for {}."
INVALID_TYPE_ERROR = "{} should be {} type, not {}."
CONSTRAINTS_ERROR = "{} does not meet the constraints."
SCHEMA_ERROR = "Schema error, {} is not a dictionary."
CONSTRAINTS_RAISED_ERROR = "{} does not meet the constraints ({}: {})."
BAD_TYPE_ERROR = "Schema error, the type of {} ({!r}) is not a type."
INPUT_TYPE_ERROR = "Input should be a JSON object, not {}."
SCHEMA_TYPE_ERROR = "Schema error, the schema should be a dictionary, not {}."

_warned: set[tuple[str, Any]] = set()
"""(key, constraint) pairs reported already: once per process is enough."""


def _rules_of(schema: dict[str, Any], errors: list[str]) -> dict[str, dict[str, Any]]:
    """The keys whose rules are a dict (a JSON string is parsed, as the SDK does)."""
    rules_by_key: dict[str, dict[str, Any]] = {}
    for key, rules in schema.items():
        if isinstance(rules, str):
            try:
                rules = json.loads(rules)
            except json.JSONDecodeError:
                rules = None
        if isinstance(rules, dict):
            rules_by_key[key] = rules
        else:
            errors.append(SCHEMA_ERROR.format(key))
    return rules_by_key


def _required_and_defaults(
    raw_input: dict[str, Any],
    rules_by_key: dict[str, dict[str, Any]],
    validated: dict[str, Any],
    errors: list[str],
) -> None:
    for key, rules in rules_by_key.items():
        if "type" not in rules:
            errors.append(MISSING_TYPE_ERROR.format(key))
        if "required" not in rules or (rules["required"] and key not in raw_input):
            errors.append(MISSING_REQUIRED_ERROR.format(key))
        elif key not in raw_input:
            if "default" in rules:
                validated[key] = rules["default"]
            else:
                errors.append(MISSING_DEFAULT_ERROR.format(key))


def _constraint_error(key: str, rules: dict[str, Any], value: Any) -> str | None:
    """The message when ``rules["constraints"]`` rejects ``value`` (or raises), else None."""
    if "constraints" not in rules:
        return None
    try:
        accepted = rules["constraints"](value)
    except Exception as exc:
        return CONSTRAINTS_RAISED_ERROR.format(key, type(exc).__name__, exc)
    return None if accepted else CONSTRAINTS_ERROR.format(key)


def _warn_skipped(key: str, rules: dict[str, Any], value: Any) -> None:
    seen = (key, rules.get("constraints"))
    if seen in _warned or _constraint_error(key, rules, value) is None:
        return
    _warned.add(seen)
    log.warning(
        "input %r: value %r fails the schema's constraint but is accepted, as the SDK "
        "accepts any value of the default's type without checking it; fix the "
        "constraint or the default",
        key,
        value,
    )


def _types_and_constraints(
    rules_by_key: dict[str, dict[str, Any]],
    validated: dict[str, Any],
    errors: list[str],
) -> None:
    for key, rules in rules_by_key.items():
        if key in validated:
            if "type" not in rules:
                continue  # reported already; the SDK raises KeyError here
            expected = rules["type"]
            if expected is float and type(validated[key]) in (int, float):
                validated[key] = float(validated[key])
            value = validated[key]
            if "default" in rules and isinstance(value, type(rules["default"])):
                _warn_skipped(key, rules, value)
                continue
            try:
                matches = isinstance(value, expected)
            except TypeError:
                errors.append(BAD_TYPE_ERROR.format(key, expected))
                continue
            if not matches:
                errors.append(INVALID_TYPE_ERROR.format(key, expected, type(value)))
        problem = _constraint_error(key, rules, validated.get(key))
        if problem is not None:
            errors.append(problem)


def validate(raw_input: Any, schema: Any) -> dict[str, Any]:
    """``{"validated_input": {...}}`` with defaults filled in, or ``{"errors": [...]}``."""
    if not isinstance(raw_input, dict):
        return {"errors": [INPUT_TYPE_ERROR.format(type(raw_input).__name__)]}
    if not isinstance(schema, dict):
        return {"errors": [SCHEMA_TYPE_ERROR.format(type(schema).__name__)]}
    errors = [UNEXPECTED_INPUT_ERROR.format(key) for key in raw_input if key not in schema]
    validated = dict(raw_input)
    rules_by_key = _rules_of(schema, errors)
    _required_and_defaults(raw_input, rules_by_key, validated, errors)
    _types_and_constraints(rules_by_key, validated, errors)
    return {"errors": errors} if errors else {"validated_input": validated}
