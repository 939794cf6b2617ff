"""What every rpbuild command shares: its Output in click's context, and the one place
library errors become click's exit codes and text.

Every command is a :class:`Command` (groups make theirs so), so the mapping holds
whether a command runs under ``rpbuild`` or alone (tests invoke commands directly).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from builder.errors import InputError, RpbuildError
from builder.output import Output, Verbosity, detect_mode

F = TypeVar("F", bound=Callable[..., Any])

_VERBOSITY = "rpbuild.verbosity"
_JSON = "rpbuild.json"


def to_click(error: RpbuildError, ctx: click.Context) -> click.ClickException:
    """The click exception that shows ``error``: input mistakes exit 2, naming the flag
    (with the usage line) or the file key (without it); failures of the work exit 1."""
    if isinstance(error, InputError):
        where = error.where
        if where is None:
            return click.UsageError(error.format_message(), ctx=ctx)
        if where.on_command_line:
            return click.BadParameter(error.message, ctx=ctx, param_hint=[where.name])
    if error.exit_code == InputError.exit_code:
        return _BadInput(error.format_message())
    return click.ClickException(error.format_message())


class _BadInput(click.ClickException):
    """Input from a file, not the command line: exit 2 without the usage line."""

    exit_code = 2


def _usage_details(error: click.UsageError) -> dict[str, Any]:
    """A click usage error for ``--json``: its text and, if it names one, the parameter."""
    found: dict[str, Any] = {"error": error.format_message()}
    param = getattr(error, "param", None)
    hint = getattr(error, "param_hint", None)
    if isinstance(param, click.Option):
        found["source"] = param.opts[0]
    elif isinstance(param, click.Parameter):
        found["source"] = param.human_readable_name
    elif hint:
        found["source"] = hint if isinstance(hint, str) else " / ".join(hint)
    elif isinstance(error, click.NoSuchOption):
        found["source"] = error.option_name
    return found


def _report_json(ctx: click.Context, details: dict[str, Any]) -> None:
    """With --json, a failure is a JSON document on stdout too, whatever raised it."""
    out = output_of(ctx)
    if out.json:
        out.result({"ok": False, **details})


def _asks_json(command: click.Command, args: list[str]) -> bool:
    """Whether ``--json`` is among the options, which click's parser has not reached
    when it meets an option it does not know."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options and any(p.name == "json" for p in command.params)


class Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """--json is eager: it is set before any other parameter can fail to parse."""
        asked = _asks_json(self, args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            if asked:
                ctx.meta[_JSON] = True
            _report_json(ctx, _usage_details(error))
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RpbuildError as error:
            _report_json(ctx, error.details())
            raise to_click(error, ctx) from error
        except click.UsageError as error:
            _report_json(ctx, _usage_details(error))
            raise


class Group(click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups too


def output_of(ctx: click.Context) -> Output:
    """The command's Output, made once from the group's -v/-q and the command's --json."""
    if not isinstance(ctx.obj, Output):
        settings = ctx.meta  # one dict, shared by every context of the command line
        ctx.obj = Output(
            mode=detect_mode(sys.stderr, json_output=settings.get(_JSON, False)),
            verbosity=settings.get(_VERBOSITY, Verbosity.NORMAL),
        )
    return ctx.obj


def pass_output(command: F) -> F:
    """Hand the command its Output as the first argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(output_of(click.get_current_context()), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        level = Verbosity.VERBOSE if param.name == "verbose" else Verbosity.QUIET
        ctx.meta[_VERBOSITY] = level


def verbosity_options(command: F) -> F:
    """``--verbose``/``--quiet`` for the group; every command's Output honours them."""
    quiet = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Show only warnings, errors and results.",
    )
    verbose = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Also show raw tool output and the commands run.",
    )
    return verbose(quiet(command))


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_JSON] = True


json_option = click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    is_eager=True,
    help="Print the result as JSON on standard output.",
)
"""The one --json: it switches the command's Output to JSON mode."""
