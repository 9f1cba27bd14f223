"""Console (rich) rendering of a :class:`~perfkit.compare.model.Comparison`.

Formatting only: every figure is a field of the Comparison, printed with the same cell
helpers as the Markdown (:mod:`perfkit.render.compare_markdown`). One table per
candidate, one time unit for all of them, verdicts in colour, notes underneath.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from perfkit.compare.model import Comparison, Status
from perfkit.render.compare_markdown import (
    ci_cell,
    group_cells,
    metric_cell,
    p_cell,
    ratio_cell,
    reason_cell,
    table_caption,
    table_unit,
    value_cell,
)

STATUS_STYLE = {
    Status.REGRESSED: "bold red",
    Status.IMPROVED: "bold green",
    Status.NOISY: "yellow",
    Status.UNCHANGED: "dim",
    Status.INCOMPARABLE: "magenta",
}


def inputs_block(comparison: Comparison) -> RenderableType:
    """One line per input: label, source, runs, batch, environment, median step, noise."""
    unit = table_unit(comparison)
    lines = [Text(f"perfkit compare · baseline {comparison.baseline}", style="bold")]
    for group in comparison.groups:
        label, source, runs, batch, device, torch, cpus, step, noise = group_cells(group, unit)
        line = Text("  ")
        line.append(label, style="bold cyan")
        line.append(
            f"  {source} · {runs} steps · batch {batch} · {device} · torch {torch} · {cpus} CPUs · "
            f"step {step} {unit[0]} · noise {noise} (steps / runs)"
        )
        lines.append(line)
    return Group(*lines)


def footnote_marks(comparison: Comparison, candidate: str) -> dict[str, int]:
    """Each distinct verdict reason of a table, numbered in order of appearance."""
    marks: dict[str, int] = {}
    for r in comparison.rows(candidate):
        reason = reason_cell(r)
        if reason and reason not in marks:
            marks[reason] = len(marks) + 1
    return marks


def candidate_table(comparison: Comparison, candidate: str) -> RenderableType:
    unit = table_unit(comparison)
    marks = footnote_marks(comparison, candidate)
    table = Table(
        title=f"{candidate} vs {comparison.baseline}",
        title_justify="left",
        title_style="bold",
        caption=table_caption(comparison, candidate),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("metric", no_wrap=True)
    table.add_column(comparison.baseline, justify="right")
    table.add_column(candidate, justify="right")
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column(f"{100 * comparison.policy.confidence:g}% CI", justify="right", no_wrap=True)
    table.add_column("p", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for r in comparison.rows(candidate):
        verdict = Text(r.status.value, style=STATUS_STYLE[r.status])
        reason = reason_cell(r)
        if reason:
            verdict.append(f" [{marks[reason]}]", style="dim")
        table.add_row(
            metric_cell(r, unit),
            value_cell(r, r.baseline_value, r.baseline_spread, unit),
            value_cell(r, r.candidate_value, r.candidate_spread, unit),
            ratio_cell(r),
            ci_cell(r),
            p_cell(r),
            verdict,
        )
    footnotes = [Text(f"[{n}] {reason}", style="dim") for reason, n in marks.items()]
    return Group(table, *footnotes)


GATED_NOTE = "--fail-on-regression exits 1 when one of these regressed."


def notes_block(comparison: Comparison, gated_note: str = GATED_NOTE) -> RenderableType:
    lines = [Text(f"* gated: {gated_note}", style="dim")]
    if comparison.notes:
        lines.append(Text("Notes", style="bold yellow"))
        lines += [Text(f"  ! {note}", style="yellow") for note in comparison.notes]
    return Group(*lines)


def render_comparison(comparison: Comparison, console: Console, gated_note: str = GATED_NOTE) -> None:
    """Print the inputs, one table per candidate, and the notes."""
    console.print(inputs_block(comparison))
    for candidate in comparison.candidates:
        console.print()
        console.print(candidate_table(comparison, candidate))
    console.print()
    console.print(notes_block(comparison, gated_note))


__all__ = ["STATUS_STYLE", "candidate_table", "footnote_marks", "inputs_block", "notes_block", "render_comparison"]
