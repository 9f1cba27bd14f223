"""Errors that perfkit reports to users.

Every error a user can cause (a bad file, an unknown name, an impossible value)
is a :class:`PerfkitError`. The CLI prints its message as one line and exits with
``exit_code`` (2 for usage and input errors). Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

USAGE_EXIT_CODE = 2
REGRESSION_EXIT_CODE = 1
INTERRUPTED_EXIT_CODE = 130


class PerfkitError(Exception):
    """Base class: a user-facing error with a one-line message and an exit code."""

    exit_code: int = USAGE_EXIT_CODE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(PerfkitError):
    """The experiment YAML or an override is invalid. The message names the dotted key."""


class BuildError(PerfkitError):
    """A builder could not build what the config asks for (unknown name, missing extra, bad import)."""


class InputError(PerfkitError):
    """A file given on the command line is missing, unreadable or of the wrong kind."""


class SchemaError(InputError):
    """A saved result was written with another ``schema_version``."""


class TraceError(InputError):
    """A trace file or directory cannot be analyzed."""


class IncomparableError(PerfkitError):
    """Two runs cannot be compared (different device, torch version, ...)."""


class RunFailed(PerfkitError):
    """A run failed after finishing some steps. ``error`` says why (and carries the exit
    code); ``partial`` is the :class:`~perfkit.results.RunResult` of the finished steps,
    marked partial, which ``perfkit profile`` saves and reports before exiting, exactly as
    it does after Ctrl-C."""

    def __init__(self, error: PerfkitError, partial: object) -> None:
        super().__init__(error.message)
        self.error = error
        self.partial = partial
        self.exit_code = error.exit_code
