"""Markdown rendering of a :class:`~perfkit.compare.model.Comparison` (GitHub tables).

Formatting only: every figure printed is a field of the Comparison. The cell helpers
here are shared with :mod:`perfkit.render.compare_console`, so both formats print the
same digits: a centre to three significant digits, or to the first significant digit of
its spread when that is finer (``105,200`` rather than ``105208.6`` when the spread is in
the hundreds), a ratio to the first significant digit of its interval's width, one time
unit per table.
"""

from __future__ import annotations

import math

from perfkit.compare.model import Comparison, Design, GroupInfo, MetricComparison, Status
from perfkit.render import format as fmt

Unit = tuple[str, float]

#: What the ratio column means, per design.
DESIGN_TEXT = {
    Design.PAIRED: "paired over {n} interleaved rounds (Hodges–Lehmann); Wilcoxon signed-rank p",
    Design.RUNS: "{n} vs {m} runs (two-sample Hodges–Lehmann); Mann–Whitney U p over runs",
    Design.STEPS: "median of {n} vs {m} steps, one run a side; Mann–Whitney U p over steps (run-to-run noise not captured)",
}

#: How the interval was made, per design ({level} is e.g. "99%").
CI_TEXT = {
    Design.PAIRED: "{level} CI = the signed-rank test inverted (excludes 1 exactly when p < α)",
    Design.RUNS: "{level} CI = the Mann–Whitney U test inverted (excludes 1 exactly when p < α)",
    Design.STEPS: "{level} bootstrap CI (may disagree with p at the margin)",
}


def table_unit(comparison: Comparison) -> Unit:
    """The one time unit of every table, chosen from the baseline's median step."""
    return fmt.time_unit_for(comparison.group(comparison.baseline).step_median_ms)


def _decimals(spread: float | None, scale: float = 1.0, max_decimals: int = 3, min_decimals: int = 1) -> int:
    return fmt.decimals_for(None if spread is None else spread / scale, max_decimals, min_decimals)


#: Significant digits a centre keeps whatever its spread: a noisy input's medians
#: rounded to the spread's leading digit (142 → "100" next to 116 → "100") would
#: contradict the ratio printed beside them.
SIGNIFICANT_DIGITS = 3


def trimmed(value: float, spread: float | None, max_decimals: int = 3, min_decimals: int = 1) -> str:
    """``value`` to :data:`SIGNIFICANT_DIGITS` significant digits, or to the first
    significant digit of ``spread`` when that is finer; thousands separated by commas.

    The last digit printed is the finer of the two places: a spread of 340 around
    105208.6 prints 105,200, a spread of 40 around 141.83 prints 142 (three digits), a
    spread of 0.004 around 12.3456 prints 12.346. Decimals stay within
    [``min_decimals``, ``max_decimals``] unless the value rounds to whole units.
    """
    if not math.isfinite(value):
        return f"{value}"
    steps = []
    if value != 0:
        steps.append(10.0 ** (math.floor(math.log10(abs(value))) - (SIGNIFICANT_DIGITS - 1)))
    if spread is not None and math.isfinite(spread) and spread > 0:
        steps.append(10.0 ** math.floor(math.log10(spread)))
    if not steps:
        return f"{value:,.{min(2, max_decimals)}f}"
    step = min(steps)
    if step >= 1:
        return f"{math.floor(value / step + 0.5) * step:,.0f}"
    decimals = max(min_decimals, min(max_decimals, -math.floor(math.log10(step) + 1e-9)))
    return f"{value:,.{decimals}f}"


def _si_trimmed(value: float, spread: float | None) -> str:
    """A large rate with an SI prefix (``105.2 k``), trimmed to its spread."""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            scaled_spread = None if spread is None else spread / scale
            return f"{trimmed(value / scale, scaled_spread, max_decimals=2, min_decimals=0)} {prefix}"
    return trimmed(value, spread, max_decimals=2, min_decimals=0)  # pragma: no cover - callers pass >= 1e4


def value_cell(row: MetricComparison, value: float | None, spread: float | None, unit: Unit) -> str:
    """A centre in the row's unit, trimmed to what its spread supports."""
    if value is None:
        return "—"
    if row.unit == "ms":
        return trimmed(value / unit[1], None if spread is None else spread / unit[1])
    if row.unit == "B":
        return fmt.fmt_bytes(value)
    if row.unit == "FLOP":
        return fmt.fmt_si(value, "FLOP")
    if row.unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if abs(value) >= 1e4:
        return _si_trimmed(value, spread)
    return trimmed(value, spread, max_decimals=2, min_decimals=0)


def ratio_decimals(row: MetricComparison) -> int:
    if row.ci_low is None or row.ci_high is None:
        return 2
    return max(2, min(4, _decimals(row.ci_high - row.ci_low, max_decimals=4)))


def ratio_cell(row: MetricComparison) -> str:
    if row.ratio is None:
        return "—"
    return f"{row.ratio:.{ratio_decimals(row)}f}×"


def ci_cell(row: MetricComparison) -> str:
    if row.ci_low is None or row.ci_high is None:
        return "—"
    d = ratio_decimals(row)
    return f"{row.ci_low:.{d}f}–{row.ci_high:.{d}f}"


def p_cell(row: MetricComparison) -> str:
    if row.p_value is None or not math.isfinite(row.p_value):
        return "—"
    if row.p_value < 0.001:
        return "<0.001"
    return f"{row.p_value:.2g}"


def metric_cell(row: MetricComparison, unit: Unit) -> str:
    suffix = f" ({unit[0]})" if row.unit == "ms" else ""
    return f"{row.title}{suffix}{'*' if row.gated else ''}"


def verdict_cell(row: MetricComparison) -> str:
    return row.verdict.status.value


def reason_cell(row: MetricComparison) -> str:
    return row.verdict.reason or ""


def table_caption(comparison: Comparison, candidate: str) -> str:
    """``ratio = slow ÷ base, paired over 10 rounds …; 99% CI = …; threshold 5%, α = 0.01; …``."""
    rows = comparison.rows(candidate)
    measured = next((r for r in rows if r.design in DESIGN_TEXT), None)
    policy = comparison.policy
    parts = [f"ratio = {candidate} ÷ {comparison.baseline}"]
    if measured is not None:
        parts[0] += ", " + DESIGN_TEXT[measured.design].format(n=measured.n_baseline, m=measured.n_candidate)
        parts.append(CI_TEXT[measured.design].format(level=f"{100 * policy.confidence:g}%"))
    counters = "exactly" if policy.counter_mode == "exact" else f"within {100 * policy.counter_tolerance:g}%"
    own = [
        f"{r.title} within {100 * r.threshold:g}%"
        for r in rows
        if r.design is Design.COUNTER and r.threshold != policy.counter_allowance()
    ]
    if own:
        counters += f" ({', '.join(own)})"
    parts += [f"threshold {100 * policy.threshold:g}%, α = {policy.alpha:g}", f"counters compared {counters}"]
    return "; ".join(parts)


def noise_cell(group: GroupInfo) -> str:
    steps = fmt.fmt_pct(group.step_noise, 0)
    runs = fmt.fmt_pct(group.run_noise, 0) if group.run_noise is not None else "not measured"
    return f"{steps} / {runs}"


def group_cells(group: GroupInfo, unit: Unit) -> list[str]:
    rounds = f" ({group.rounds} rounds)" if group.rounds else ""
    return [
        group.label,
        group.source,
        f"{group.runs}{rounds} × {group.steps_per_run}",
        str(group.samples_per_step),
        group.device,
        group.torch,
        str(group.cpu_count),
        fmt.fmt_time(group.step_median_ms, unit, 2),
        noise_cell(group),
    ]


GROUP_HEADER = ["input", "source", "runs × steps", "batch", "device", "torch", "CPUs", "step", "noise (steps / runs)"]

STATUS_MARKDOWN = {
    Status.REGRESSED: "**regressed**",
    Status.IMPROVED: "**improved**",
    Status.NOISY: "noisy",
    Status.UNCHANGED: "unchanged",
    Status.INCOMPARABLE: "_incomparable_",
}


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_escape(c) for c in cells) + " |"


GATED_NOTE = "`--fail-on-regression` exits 1 when one of these regressed."


def comparison_markdown(comparison: Comparison, title: str | None = None, gated_note: str = GATED_NOTE) -> str:
    """The whole comparison as GitHub-flavoured Markdown."""
    unit = table_unit(comparison)
    lines = [title or f"## perfkit compare (baseline: {comparison.baseline})", ""]
    header = [h if h != "step" else f"step ({unit[0]})" for h in GROUP_HEADER]
    lines += [_row(header), _row(["---"] * 2 + ["---:"] * 2 + ["---"] * 2 + ["---:"] * 3)]
    lines += [_row(group_cells(g, unit)) for g in comparison.groups]
    for candidate in comparison.candidates:
        rows = comparison.rows(candidate)
        lines += ["", f"### {candidate} vs {comparison.baseline}", "", table_caption(comparison, candidate), ""]
        lines.append(_row(["metric", comparison.baseline, candidate, "ratio", f"{100 * comparison.policy.confidence:g}% CI", "p", "verdict", "why"]))
        lines.append(_row(["---", "---:", "---:", "---:", "---:", "---:", "---", "---"]))
        for r in rows:
            lines.append(
                _row(
                    [
                        metric_cell(r, unit),
                        value_cell(r, r.baseline_value, r.baseline_spread, unit),
                        value_cell(r, r.candidate_value, r.candidate_spread, unit),
                        ratio_cell(r),
                        ci_cell(r),
                        p_cell(r),
                        STATUS_MARKDOWN[r.status],
                        reason_cell(r),
                    ]
                )
            )
    lines += ["", f"\\* gated: {gated_note}"]
    if comparison.notes:
        lines += ["", "**Notes**", ""]
        lines += [f"- {note}" for note in comparison.notes]
    return "\n".join(lines) + "\n"


__all__ = [
    "CI_TEXT",
    "DESIGN_TEXT",
    "GROUP_HEADER",
    "ci_cell",
    "comparison_markdown",
    "group_cells",
    "metric_cell",
    "p_cell",
    "ratio_cell",
    "reason_cell",
    "table_caption",
    "table_unit",
    "trimmed",
    "value_cell",
    "verdict_cell",
]
