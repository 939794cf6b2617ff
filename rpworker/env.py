"""Settings read from the environment: one parser, one error type for every mode.

The production worker, the local API and the GPU check all read numbers from
``RPWORKER_*``/``RUNPOD_*`` variables; a bad value stops the process at start
with the variable, the value and the form expected, never deep inside a job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

N = TypeVar("N", int, float)
D = TypeVar("D", int, float, None)


class SettingError(ValueError):
    """A setting (environment variable or config key) has a value the runtime cannot use."""

    def __init__(self, setting: str, value: object, expected: str) -> None:
        shown = f"{setting} is not set" if value is None else f"{setting}={value!r} is invalid"
        super().__init__(f"{shown}: {expected}")
        self.setting = setting
        self.value = value
        self.expected = expected


def number(
    env: Mapping[str, str],
    name: str,
    kind: Callable[[str], N],
    default: D,
    *,
    minimum: float = 0,
    above: bool = False,
) -> N | D:
    """``env[name]`` as ``kind`` (int or float), at least ``minimum`` (more, with ``above``).

    Unset or blank gives ``default``.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    form = "a whole number" if kind is int else "a number"
    bound = f"{'>' if above else '>='} {minimum:g}"
    example = f", e.g. {default:g}" if default is not None else ""
    try:
        value = kind(raw)
    except ValueError:
        raise SettingError(name, raw, f"use {form} {bound}{example}") from None
    if value < minimum or (above and value == minimum) or value != value:
        raise SettingError(name, raw, f"use {form} {bound}{example}")
    return value
