"""One parser for every numeric setting of the runtime, one error type naming the fix."""

from __future__ import annotations

import pytest

from rpworker.env import SettingError, number


def test_unset_or_blank_gives_the_default() -> None:
    assert number({}, "X", float, 30.0) == 30.0
    assert number({"X": "  "}, "X", int, None) is None


def test_values_are_parsed_as_their_kind() -> None:
    assert number({"X": "2.5"}, "X", float, 1.0) == 2.5
    assert number({"X": " 7 "}, "X", int, 1) == 7


@pytest.mark.parametrize(
    ("raw", "kind", "above", "message"),
    [
        ("soon", float, False, "X='soon' is invalid: use a number >= 0, e.g. 3"),
        ("1.5", int, False, "X='1.5' is invalid: use a whole number >= 0, e.g. 3"),
        ("-1", float, False, "X='-1' is invalid: use a number >= 0"),
        ("0", int, True, "X='0' is invalid: use a whole number > 0"),
        ("nan", float, False, "X='nan' is invalid"),
    ],
)
def test_bad_values_name_the_variable_and_the_form(
    raw: str, kind: type, above: bool, message: str
) -> None:
    with pytest.raises(SettingError) as caught:
        number({"X": raw}, "X", kind, kind(3), above=above)
    assert str(caught.value).startswith(message)
    assert (caught.value.setting, caught.value.value) == ("X", raw)
