"""The errors a user can hit, each with its exit code and a message naming the fix.

Input mistakes are click ``BadParameter``/``UsageError`` (exit 2, printed with the
usage line); failures of the build itself derive from :class:`RpbuildError` (exit 1).
Callers match on these types, never on message text.

    click.ClickException
    ├── RpbuildError (exit 1)
    │   ├── DataError            the shipped compatibility data is malformed (a bug)
    │   ├── DockerUnavailableError  no engine or no BuildKit-capable client
    │   ├── GpuUnavailableError  the engine cannot give containers a GPU
    │   ├── BuildError           a build step failed (names the step, shows the log tail)
    │   ├── VerifyError          the built image contradicts its tag and labels
    │   └── RuntimeWheelError    the runtime wheel could not be found or built
    └── click.UsageError (exit 2)
        └── click.BadParameter
            └── IncompatibleChoiceError  a combination the data says cannot work
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


class RpbuildError(click.ClickException):
    """A failure of the job itself (exit 1): the input was valid, the work failed."""

    exit_code = 1

    def details(self) -> dict[str, Any]:
        """The failure for ``--json`` output."""
        return {"error": self.format_message()}


class DataError(RpbuildError):
    """Compatibility data that fails its schema: a bug in rpbuild or a local edit."""


class DockerUnavailableError(RpbuildError):
    """No Docker engine answers, or no client can build with BuildKit."""


class GpuUnavailableError(RpbuildError):
    """The engine has no NVIDIA runtime: ``docker run --gpus`` is refused."""


class RuntimeWheelError(RpbuildError):
    """The worker runtime wheel (this package) could not be located or built."""


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


class IncompatibleChoiceError(click.BadParameter):
    """A choice the compatibility data rules out; the message names valid choices."""

    def __init__(self, option: str, value: str, reason: str, choices: Sequence[str]) -> None:
        self.option = option
        self.value = value
        self.choices = list(choices)
        hint = f"; choose {', or '.join(self.choices)}" if self.choices else ""
        super().__init__(f"{value}: {reason}{hint}", param_hint=[option])
