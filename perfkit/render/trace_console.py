"""Terminal rendering of a :class:`~perfkit.trace.model.TraceAnalysis` (rich).

:func:`trace_renderables` returns renderables rather than printing, so that the run
report can embed them. Nothing is computed here: every value is a field of the analysis,
laid out by :mod:`perfkit.trace.tables` (shared with the Markdown renderer).
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from perfkit.trace.model import TraceAnalysis
from perfkit.trace.tables import Table, summary_lines, tables, view_lines

#: Widest the name column gets, so that the numbers fit in an 80-column terminal.
_NAME_COLUMN_WIDTH = 36


def _rich_table(table: Table) -> RichTable:
    out = RichTable(title=table.title, title_justify="left", title_style="bold", show_edge=False)
    for i, header in enumerate(table.headers):
        numeric = i in table.numeric
        # Numbers never wrap or shrink; the first column (names) gives way with "…".
        width = max([len(header), *(len(row[i]) for row in table.rows)]) if numeric else None
        out.add_column(
            header,
            justify="right" if numeric else "left",
            no_wrap=numeric or i == 0,
            min_width=width,
            max_width=_NAME_COLUMN_WIDTH if i == 0 else None,
            overflow="ellipsis" if i == 0 else "fold",
        )
    for row in table.rows:
        out.add_row(*row)
    return out


def trace_renderables(analysis: TraceAnalysis, *, show_view: bool = True) -> list[RenderableType]:
    """The trace report as rich renderables, in order.

    ``show_view=False`` leaves out the "view: tensorboard --logdir ..." lines, for a caller
    that prints them itself.
    """
    out: list[RenderableType] = []
    header = summary_lines(analysis)
    out.append(Text(header[0], style="bold"))
    out.extend(Text(line) for line in header[1:])
    for table in tables(analysis):
        out.append(Text(""))
        out.append(_rich_table(table))
    if analysis.device is None and analysis.device_not_applicable:
        out.append(Text(""))
        out.append(Text(f"Device metrics: {analysis.device_not_applicable}", style="dim"))
    if analysis.notes:
        out.append(Text(""))
        out.append(Text("Notes", style="bold"))
        out.extend(Text(f"- {note}") for note in analysis.notes)
    if show_view:
        lines = view_lines(analysis)
        if lines:
            out.append(Text(""))
            out.extend(Text(line) for line in lines)
    return out


__all__ = ["trace_renderables"]
