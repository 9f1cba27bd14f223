"""`perfkit analyze`: analyze torch.profiler traces without training anything.

Reads trace files by streaming (never the whole JSON in memory) and never imports torch,
so it starts fast and runs where torch is not installed.

Each trace is analyzed on its own: a file that cannot be analyzed is reported as one line
``error: <file>: <what>`` on stderr, the others are still analyzed and reported, and the
command exits with 2 at the end. An unexpected failure inside the analysis (a bug, or an
input nobody foresaw) reads ``error: <file>: cannot analyze (<exception>)``;
``PERFKIT_DEBUG=1`` re-raises it with its traceback instead.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli.app import app, emit, handles_errors, stdout_console
from perfkit.errors import USAGE_EXIT_CODE, InputError, PerfkitError

if TYPE_CHECKING:
    from perfkit.trace_advice import TraceReport

ANALYSES_KIND = "perfkit.trace_analyses"


class TraceFormat(str, Enum):
    console = "console"
    json = "json"
    md = "md"


@app.command()
@handles_errors
def analyze(
    path: Annotated[
        Path,
        typer.Argument(
            help="A .pt.trace.json[.gz] file, or a TensorBoard log directory "
            "(<logdir>/<run>/<worker>.pt.trace.json[.gz]) such as perfkit-traces.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        TraceFormat, typer.Option("--format", "-f", help="Output format.")
    ] = TraceFormat.console,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to FILE (json or md), atomically."),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Rows in the top kernels and operators tables.")
    ] = 10,
) -> None:
    """Analyze torch.profiler traces: step-time breakdown, per-phase host and device time,
    device utilization, top kernels and operators.

    Example: perfkit analyze perfkit-traces/ --format md --output trace.md
    """
    from perfkit.trace.analysis import analyze_file
    from perfkit.trace.files import find_traces
    from perfkit.trace_advice import build_trace_report

    if fmt is TraceFormat.console and output is not None:
        raise InputError(
            "--output needs --format json or md; the console format prints to the terminal"
        )
    logdir = path if path.is_dir() else None  # the directory the user named, else the file's
    reports: list[TraceReport] = []
    errors: list[tuple[Path, str]] = []
    for trace in find_traces(path):
        try:
            reports.append(build_trace_report(analyze_file(trace, top=top, tensorboard_logdir=logdir)))
        except Exception as exc:  # one bad file must not stop the others
            if os.environ.get("PERFKIT_DEBUG"):
                raise
            errors.append((trace, _one_line(trace, exc)))
    if reports:
        _emit(reports, errors, fmt, output)
    for _, message in errors:
        print(f"error: {message}", file=sys.stderr)
    if errors:
        raise typer.Exit(USAGE_EXIT_CODE)


def _one_line(trace: Path, exc: Exception) -> str:
    """The error line of a trace that failed: a perfkit error's own message (it names the
    file and what to do), an OS error's ``<file>: <reason>; <fix>``, else
    ``<file>: cannot analyze (<exception>)``."""
    if isinstance(exc, PerfkitError):
        return " ".join(exc.message.split())
    if isinstance(exc, OSError):
        from perfkit.io import os_error_message

        return os_error_message(trace, exc)
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    return f"{trace}: cannot analyze ({reason})"


def _emit(
    reports: list[TraceReport], errors: list[tuple[Path, str]], fmt: TraceFormat, output: Path | None
) -> None:
    """Print or write the reports of the traces that could be analyzed."""
    if fmt is TraceFormat.console:
        from perfkit.render.advice_render import advice_renderable
        from perfkit.render.trace_console import trace_renderables

        console = stdout_console()
        for i, report in enumerate(reports):
            if i:
                console.rule()
            for renderable in trace_renderables(report.analysis):
                console.print(renderable)
            console.print(advice_renderable(report.advice))
        return
    if fmt is TraceFormat.json:
        from perfkit.io import dumps_json

        text = dumps_json(
            {
                "kind": ANALYSES_KIND,
                "analyses": [r.to_dict() for r in reports],
                "errors": [{"path": str(p), "error": message} for p, message in errors],
            }
        )
    else:
        from perfkit.render.advice_render import advice_markdown
        from perfkit.render.trace_markdown import trace_markdown

        text = "\n\n".join(
            trace_markdown(r.analysis) + "\n" + "\n".join(advice_markdown(r.advice)) for r in reports
        ) + "\n"
    emit(text, output)


__all__ = ["ANALYSES_KIND", "TraceFormat", "analyze"]
