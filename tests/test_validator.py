"""The input validator gives the SDK's results, quirks included, without its crashes."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from rpworker.validator import validate
from tests.compat.sdk import run_sdk_script
from tests.compat.validator_cases import CASES, RAISING_CONSTRAINTS, SELF_FAILING_DEFAULT

SDK_RESULTS = """
import copy, json, sys
sys.path.insert(0, ".")
from runpod.serverless.utils.rp_validator import validate
from tests.compat.validator_cases import CASES
out = []
for name, schema, inputs in CASES:
    for raw in inputs:
        try:
            out.append({"result": validate(copy.deepcopy(raw), copy.deepcopy(schema))})
        except Exception as exc:
            out.append({"raised": f"{type(exc).__name__}: {exc}"})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def sdk_results() -> list[dict[str, Any]]:
    return list(run_sdk_script(SDK_RESULTS))


def _ours() -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        (name, raw, validate(copy.deepcopy(raw), schema))
        for name, schema, inputs in CASES
        for raw in inputs
    ]


@pytest.mark.venv
def test_same_results_as_the_sdk_and_errors_where_it_crashes(
    sdk_results: list[dict[str, Any]],
) -> None:
    ours = _ours()
    assert len(ours) == len(sdk_results) > 60
    crashed = 0
    for (name, raw, result), sdk in zip(ours, sdk_results, strict=True):
        if "raised" in sdk:
            crashed += 1
            assert result.get("errors"), f"{name} {raw}: SDK raised {sdk['raised']}, we {result}"
        else:
            # JSON keeps int and float apart, so 4 vs 4.0 differences are caught too.
            assert result == sdk["result"], f"{name} {raw}"
            for key, value in result.get("validated_input", {}).items():
                assert type(value) is type(sdk["result"]["validated_input"][key]), (name, key)
    assert crashed >= 3, "the cases must include inputs the SDK crashes on"


def test_float_keys_turn_ints_into_floats_defaults_included() -> None:
    schema = {"scale": {"type": float, "required": False, "default": 4}}
    result = validate({}, schema)
    assert result == {"validated_input": {"scale": 4.0}}
    assert type(result["validated_input"]["scale"]) is float


def test_a_constraint_that_raises_is_an_error() -> None:
    assert validate({"size": "big"}, RAISING_CONSTRAINTS) == {
        "errors": [
            "size does not meet the constraints "
            "(ValueError: invalid literal for int() with base 10: 'big')."
        ]
    }


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_skipped_constraint_that_would_fail_is_accepted_with_one_warning() -> None:
    schema = {
        key: {**rules, "constraints": lambda value, check=rules["constraints"]: check(value)}
        for key, rules in SELF_FAILING_DEFAULT.items()
    }
    records = _Records()
    logger = logging.getLogger("rpworker.validator")
    logger.addHandler(records)
    try:
        for _ in range(3):
            assert validate({"mode": "c"}, schema) == {"validated_input": {"mode": "c", "steps": 0}}
    finally:
        logger.removeHandler(records)
    assert len([m for m in records.messages if m.startswith("input 'mode'")]) == 1
    assert len([m for m in records.messages if m.startswith("input 'steps'")]) == 1
    assert len(records.messages) == 2


def test_input_and_schema_must_be_objects() -> None:
    assert validate(["prompt"], {}) == {"errors": ["Input should be a JSON object, not list."]}
    assert validate({}, None) == {
        "errors": ["Schema error, the schema should be a dictionary, not NoneType."]
    }


def test_schema_and_input_left_untouched() -> None:
    raw = {"prompt": "cat"}
    schema: dict[str, Any] = {"prompt": {"type": str, "required": True}, "n": '{"required": true}'}
    validate(raw, schema)
    assert raw == {"prompt": "cat"}
    assert schema["n"] == '{"required": true}'
