"""Markdown rendering of a :class:`~perfkit.trace.model.TraceAnalysis` (GitHub tables).

Nothing is computed here: every value is a field of the analysis, laid out by
:mod:`perfkit.trace.tables` (shared with the console renderer).
"""

from __future__ import annotations

from perfkit.trace.model import TraceAnalysis
from perfkit.trace.tables import Table, summary_lines, tables, view_lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> list[str]:
    """A GitHub table, numeric columns right-aligned, preceded by its title in bold."""
    align = ["---:" if i in table.numeric else "---" for i in range(len(table.headers))]
    lines = [f"**{table.title}**", ""]
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
    lines = [f"{hashes} Trace analysis", "", f"`{header[0].removeprefix('Trace: ')}`", ""]
    lines.extend(f"- {line}" for line in header[1:])
    for table in tables(analysis):
        lines.append("")
        lines.extend(markdown_table(table))
    if analysis.device is None and analysis.device_not_applicable:
        lines += ["", f"Device metrics: {analysis.device_not_applicable}."]
    if analysis.notes:
        lines += ["", "**Notes**", ""]
        lines.extend(f"- {_cell(note)}" for note in analysis.notes)
    if show_view:
        view = view_lines(analysis)
        if view:
            lines += ["", "```", *(v.strip() for v in view), "```"]
    return "\n".join(lines)


__all__ = ["markdown_table", "trace_markdown"]
