"""The Typer application object and the error boundary shared by every command.

Commands are thin: convert arguments, call one library function, render, exit. Only
this module turns :class:`~perfkit.errors.PerfkitError` into a one-line message and an
exit code; nothing below the CLI calls ``sys.exit``. An :class:`OSError` that reaches it
(a path too long, not a folder, not permitted, a full disk, wherever it was met) is a bad
path too: ``error: <path>: <reason>; <fix>``, exit 2, never a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

import perfkit
from perfkit.errors import INTERRUPTED_EXIT_CODE, USAGE_EXIT_CODE, PerfkitError

app = typer.Typer(
    name="perfkit",
    help="Where each PyTorch training step's time goes, and which setting makes it faster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


def _print_version(value: bool) -> None:
    if value:
        print(f"perfkit {perfkit.__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Where each PyTorch training step's time goes, and which setting makes it faster."""


def stdout_console() -> Console:
    """The console reports go to. Text lines are never wrapped (paths and commands stay
    copy-pasteable); tables use the terminal width, or 120 columns when piped."""
    probe = Console()
    width = None if probe.is_terminal else int(os.environ.get("COLUMNS", "120"))
    return Console(highlight=False, soft_wrap=True, width=width)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def emit(text: str, output: Path | None) -> None:
    """A rendered report: to ``output`` atomically when given, else to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    from perfkit.io import atomic_write_text

    atomic_write_text(output, text)


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def handles_errors(func: F) -> F:
    """Decorator: map :class:`PerfkitError` to ``error: <message>`` and its exit code, and
    any other :class:`OSError` to ``error: <path>: <reason>; <fix>`` with exit 2.

    ``PERFKIT_DEBUG=1`` re-raises instead, with the full traceback (e.g. to debug a
    user model that fails mid-run)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PerfkitError as exc:
            if os.environ.get("PERFKIT_DEBUG"):
                raise
            raise fail(exc.message, exc.exit_code) from None
        except BrokenPipeError:  # stdout closed early (`perfkit report run.json | head`)
            raise
        except OSError as exc:  # a user-given path, met outside perfkit.io's own checks
            if os.environ.get("PERFKIT_DEBUG"):
                raise
            from perfkit.io import os_error_message

            raise fail(os_error_message(None, exc), USAGE_EXIT_CODE) from None
        except KeyboardInterrupt:
            # Commands that keep partial measurements (profile, compare) catch Ctrl-C
            # themselves; reaching here means there was nothing whole to keep.
            if os.environ.get("PERFKIT_DEBUG"):
                raise
            raise fail("interrupted (Ctrl-C) before a result was complete; nothing was saved", INTERRUPTED_EXIT_CODE) from None

    return wrapper  # type: ignore[return-value]
