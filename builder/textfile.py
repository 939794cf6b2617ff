"""Reading the user's text files (rpbuild.yaml, requirements, templates): a file that is
not UTF-8 is an input error naming it, not a traceback."""

from __future__ import annotations

from pathlib import Path

from builder.errors import NotUtf8Error, Source


def read_text(path: Path, where: Source | None = None, encoding: str = "utf-8") -> str:
    """``path``'s text; ``where`` names the flag or key that chose the file, if any."""
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        raise NotUtf8Error(path, error, where) from None
