"""The errors a user can hit, each naming the value, where it came from and the fix.

The library raises these and nothing else for user-facing failures; it never imports
click. ``builder.commands.base`` maps them to click's exit codes and text in one
place. Callers match on these types, never on message text.

    RpbuildError (exit 1)         the input was valid, the work failed
    ├── DataError                 the shipped compatibility data is malformed (a bug)
    ├── DockerUnavailableError    no engine or no BuildKit-capable client
    ├── GpuUnavailableError       the engine cannot give containers a GPU
    ├── BuildError                a build step failed (names the step, shows the log tail)
    ├── VerifyError               the built image contradicts its tag and labels
    ├── RuntimeWheelError         the runtime wheel could not be found or built
    └── InputError (exit 2)       a flag, an argument or a file holds an unusable value
        ├── IncompatibleChoiceError  a combination the data says cannot work
        ├── BadReferenceError     an image reference outside Docker's grammar
        └── NotUtf8Error          a file the user gave is not UTF-8 text
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.values import shown


class RpbuildError(Exception):
    """A failure of the job itself (exit 1): the input was valid, the work failed."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        return self.message

    def details(self) -> dict[str, Any]:
        """The failure for ``--json`` output."""
        return {"error": self.format_message()}


@dataclass(frozen=True)
class Source:
    """Where a value came from: a flag or argument (``--cuda``, ``DIR``), or a key of a
    file (``origin`` is then the file, e.g. ``my/rpbuild.yaml``)."""

    name: str
    origin: str | None = None

    @property
    def on_command_line(self) -> bool:
        return self.origin is None

    def __str__(self) -> str:
        if self.origin and self.name:
            return f"{self.origin}: {self.name}"
        return self.origin or self.name


def flag(field: str) -> Source:
    """The command-line source of an option field: ``min_gpus`` -> ``--min-gpus``."""
    return Source("--" + field.replace("_", "-"))


class InputError(RpbuildError):
    """Unusable input (exit 2); ``where`` names the flag, argument or file key at fault.

    Without ``where`` the mistake is in how the command was called as a whole.
    """

    exit_code = 2

    def __init__(self, message: str, where: Source | None = None) -> None:
        super().__init__(message)
        self.where = where

    def format_message(self) -> str:
        if self.where is None or self.where.on_command_line:
            return self.message
        return f"{self.where}: {self.message}"

    def details(self) -> dict[str, Any]:
        where = {"source": str(self.where)} if self.where else {}
        return {**super().details(), **where}


class BadReferenceError(InputError):
    """An image reference outside Docker's grammar; ``reason`` says which part and why,
    so a caller that names the value itself (a file key, a flag) can give just that."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{shown(text)}: {reason}")
        self.reason = reason


class NotUtf8Error(InputError):
    """A user's text file (rpbuild.yaml, requirements, a template) that is not UTF-8.

    Blamed on ``where`` (the flag or key that named the file) if given, else on the file.
    """

    def __init__(self, path: Path, error: UnicodeDecodeError, where: Source | None = None) -> None:
        self.path = path
        byte = error.object[error.start : error.start + 1].hex()
        problem = f"not UTF-8 text (byte 0x{byte} at offset {error.start}): save it as UTF-8"
        if where is None:
            super().__init__(problem, Source("", str(path)))
        else:
            super().__init__(f"{path} is {problem}", where)


@dataclass(frozen=True)
class Choice:
    """A value that would work: ``field`` set to ``value`` (``suffix``: e.g. " or newer")."""

    field: str
    value: str
    suffix: str = ""

    def render(self, source: Source) -> str:
        if source.on_command_line:
            return f"{source} {self.value}{self.suffix}"
        return f'{source.name}: "{self.value}"{self.suffix}'


class IncompatibleChoiceError(InputError):
    """A choice the compatibility data rules out; the message names valid choices.

    Raised naming option fields; :meth:`located` re-aims it at the sources the
    values really came from (a flag or rpbuild.yaml), so the fix is given in the
    form the user wrote.
    """

    def __init__(
        self,
        field: str,
        value: str,
        reason: str,
        choices: Sequence[Choice],
        sources: Mapping[str, Source] | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.choices = list(choices)
        self.sources = dict(sources or {})
        self.fixes = [choice.render(self._source(choice.field)) for choice in self.choices]
        hint = f"; choose {', or '.join(self.fixes)}" if self.fixes else ""
        super().__init__(f"{value}: {reason}{hint}", self._source(field))

    def _source(self, field: str) -> Source:
        return self.sources.get(field) or flag(field)

    def located(self, sources: Mapping[str, Source]) -> IncompatibleChoiceError:
        return IncompatibleChoiceError(self.field, self.value, self.reason, self.choices, sources)


class DataError(RpbuildError):
    """Compatibility data that fails its schema: a bug in rpbuild or a local edit."""


class DockerUnavailableError(RpbuildError):
    """No Docker engine answers, or no client can build with BuildKit."""


class GpuUnavailableError(RpbuildError):
    """The engine has no NVIDIA runtime: ``docker run --gpus`` is refused."""


class RuntimeWheelError(RpbuildError):
    """The worker runtime wheel could not be located or built."""


class BuildError(RpbuildError):
    """A build step failed; carries the step and the tail of its log."""

    def __init__(self, message: str, step: str = "", log_tail: Sequence[str] = ()) -> None:
        self.step = step
        self.log_tail = list(log_tail)
        detail = f"\nfailing step: {step}" if step else ""
        tail = "\n".join(self.log_tail)
        super().__init__(f"{message}{detail}" + (f"\n--- log tail ---\n{tail}" if tail else ""))

    def details(self) -> dict[str, Any]:
        return {**super().details(), "step": self.step, "log_tail": self.log_tail}


class VerifyError(RpbuildError):
    """The image's contents differ from what its tag and labels claim."""

    def __init__(self, image: str, diff: Sequence[str]) -> None:
        self.image = image
        self.diff = list(diff)
        lines = "\n".join(self.diff)
        super().__init__(
            f"image {image} does not match its claims:\n{lines}\n"
            "Fix the requirement that replaced the package (pin it), or pass --no-verify "
            "to keep the image anyway."
        )

    def details(self) -> dict[str, Any]:
        return {**super().details(), "image": self.image, "diff": self.diff}
