"""`perfkit analyze`: analyze torch.profiler traces without training anything.

Reads trace files by streaming (never the whole JSON in memory) and never imports torch,
so it starts fast and runs where torch is not installed.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from perfkit.cli.app import app, handles_errors, stdout_console
from perfkit.errors import InputError

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
    reports = [
        build_trace_report(analyze_file(trace, top=top, tensorboard_logdir=logdir))
        for trace in find_traces(path)
    ]
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

        text = dumps_json({"kind": ANALYSES_KIND, "analyses": [r.to_dict() for r in reports]})
    else:
        from perfkit.render.advice_render import advice_markdown
        from perfkit.render.trace_markdown import trace_markdown

        text = "\n\n".join(
            trace_markdown(r.analysis) + "\n" + "\n".join(advice_markdown(r.advice)) for r in reports
        ) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    from perfkit.io import atomic_write_text

    atomic_write_text(output, text)


__all__ = ["ANALYSES_KIND", "TraceFormat", "analyze"]
