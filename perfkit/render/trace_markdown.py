"""Markdown rendering of a :class:`~perfkit.trace.model.TraceAnalysis` (GitHub tables).

Nothing is computed here: every value is a field of the analysis, laid out by
:mod:`perfkit.trace.tables` (shared with the console renderer).

Every piece of text from the trace or the analysis goes through :func:`md_text`: GitHub
drops what looks like HTML (a kernel's ``<float>``, a note's ``perfkit/<phase>``) and
reads ``*``/``_``/backticks/brackets as formatting, so those characters are
backslash-escaped, and ``|`` too (it would end a table cell). The file path in the
heading is a code span and the viewer commands a code block, which show text literally.
"""

from __future__ import annotations

import re

from perfkit.render.format import md_text
from perfkit.trace.model import TraceAnalysis
from perfkit.trace.tables import Table, summary_lines, tables, view_lines


def _code_span(text: str) -> str:
    """``text`` as a code span, fenced with more backticks than it contains."""
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return md_text(text)


def markdown_table(table: Table) -> list[str]:
    """A GitHub table, numeric columns right-aligned, preceded by its title in bold."""
    align = ["---:" if i in table.numeric else "---" for i in range(len(table.headers))]
    lines = [f"**{md_text(table.title)}**", ""]
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("| " + " | ".join(align) + " |")
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
    return lines


def trace_markdown(
    analysis: TraceAnalysis, *, heading_level: int = 3, show_view: bool = True
) -> str:
    """The trace report as Markdown (no trailing newline)."""
    hashes = "#" * max(1, heading_level)
    header = summary_lines(analysis)
    lines = [f"{hashes} Trace analysis", "", _code_span(header[0].removeprefix("Trace: ")), ""]
    lines.extend(f"- {md_text(line)}" for line in header[1:])
    for table in tables(analysis):
        lines.append("")
        lines.extend(markdown_table(table))
    if analysis.device is None and analysis.device_not_applicable:
        lines += ["", f"Device metrics: {md_text(analysis.device_not_applicable)}."]
    if analysis.notes:
        lines += ["", "**Notes**", ""]
        lines.extend(f"- {_cell(note)}" for note in analysis.notes)
    if show_view:
        view = view_lines(analysis)
        if view:
            lines += ["", "```", *(v.strip() for v in view), "```"]
    return "\n".join(lines)


__all__ = ["markdown_table", "md_text", "trace_markdown"]
