"""Grammars for the values a user gives that reach a Dockerfile or the build's argv.

Every check is a full match (``re.fullmatch``, ASCII only): ``re.match`` with ``$``
lets a trailing newline through, and one newline is enough to write a new
Dockerfile instruction. Messages quote a value through :func:`shown`, so a huge or
multi-line input never reaches the terminal whole.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?", re.ASCII)
MAJOR_MINOR = re.compile(r"\d+\.\d+", re.ASCII)
DEB_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+:~_-]+)?", re.ASCII)
BUILD_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
BUILD_ARG_RULE = "a build argument name: a letter or _, then letters, digits and _, e.g. MODEL_ID"
# Debian's useradd default NAME_REGEX, without the trailing `$` for Samba machine accounts.
USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}", re.ASCII)
# buildx's secret ids; weights: and run: values (each reaches a RUN step's shell, quoted).
SECRET_ID = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
IMAGE_PATH = re.compile(r"(?:/[A-Za-z0-9_.+@=-]+)+/?", re.ASCII)
URL = re.compile(r"https?://[!-~]+", re.ASCII)
SHA256 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
HF_REPO = re.compile(r"(?:[A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+", re.ASCII)
REVISION = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*", re.ASCII)
FILE_PATTERN = re.compile(r"[!-,.-~][!-~]*", re.ASCII)
SHOWN_CHARS = 60
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = SHOWN_CHARS
_REPR.maxlist = _REPR.maxdict = 4
_REPR.maxlevel = 2


def matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_user(value: Any) -> bool:
    """A name for a non-root account: root is the default, not a choice."""
    return matches(USER, value) and value != "root"


def shown(value: Any) -> str:
    """``value`` for a message: strings cut to a prefix, containers to a few items."""
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"{value[:SHOWN_CHARS]!r}... ({len(value)} characters)"
    return _REPR.repr(value)
