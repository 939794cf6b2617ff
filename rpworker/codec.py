"""JSON in and out, with every way it can fail turned into one error that names the problem.

Results, chunks and request bodies cross this boundary in every mode (test
mode, local API, production), so each mode reaches the same verdict on the
same value: a set, NaN or Infinity, a circular or too deeply nested value is
not JSON, and input nested too deeply is refused rather than crashing a parser.
"""

from __future__ import annotations

import json
from typing import Any

_STRICT = json.JSONEncoder(allow_nan=False)
"""Made once: ``json.dumps`` with any option builds a new encoder per call."""


class NotJSON(ValueError):
    """A value cannot be written as JSON, or text cannot be read as JSON."""


def dumps(value: Any) -> bytes:
    """Strict JSON bytes (no NaN/Infinity); :class:`NotJSON` names what is wrong."""
    try:
        return _STRICT.encode(value).encode()
    except RecursionError:
        problem = "it is nested too deeply (JSON encoders stop near 1000 levels)"
    except TypeError as exc:
        problem = str(exc)
    except ValueError as exc:
        if "Circular" in str(exc):
            problem = "it contains a circular reference"
        else:
            problem = "it contains NaN or Infinity, which JSON cannot carry (use None or a string)"
    raise NotJSON(problem)


def loads(raw: bytes | str) -> Any:
    """Parse JSON; :class:`NotJSON` for bad syntax or nesting too deep to parse."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise NotJSON("it is nested too deeply (over about 900 levels)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise NotJSON(str(exc)) from None
