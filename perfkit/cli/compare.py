"""`perfkit compare`: a side-by-side of two or more experiments, with verdicts.

Thin: convert the options, call :func:`perfkit.compare.inputs.collect_groups` and
:func:`perfkit.compare.compare_runs`, render, exit. Comparing saved runs imports no torch;
the runner is imported only when a config has to run.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli.app import app, emit, handles_errors, stdout_console
from perfkit.cli.progress import ProgressBar
from perfkit.errors import INTERRUPTED_EXIT_CODE, REGRESSION_EXIT_CODE, InputError

if TYPE_CHECKING:
    from perfkit.compare.interleave import ScheduledRun
    from perfkit.compare.model import Comparison

#: Mirrors perfkit.compare.policy.DEFAULT_REPEATS (not imported here: --help stays light).
DEFAULT_REPEATS = 40


class CompareFormat(str, Enum):
    console = "console"
    json = "json"
    md = "md"


def parse_fraction(text: str, option: str, shown: str | None = None) -> float:
    """``5%`` or ``0.05`` → 0.05; a bare number above 1 is refused (did you mean N%?).
    Errors start with ``shown`` (default: ``option text``), as the user typed it."""
    raw = text.strip()
    where = shown or f"{option} {text}"
    try:
        if raw.endswith("%"):
            return float(raw[:-1]) / 100.0
        value = float(raw)
    except ValueError:
        raise InputError(f"{where}: expected a fraction (0.05) or a percentage (5%)") from None
    if value > 1:
        raise InputError(f"{where}: a fraction must be at most 1; did you mean {raw}%?")
    return value


def parse_metric_thresholds(items: list[str] | None) -> tuple[tuple[str, float], ...]:
    out: list[tuple[str, float]] = []
    for item in items or []:
        metric, sep, value = item.partition("=")
        if not sep or not metric.strip():
            raise InputError(f"--metric-threshold {item}: expected METRIC=FRACTION, e.g. --metric-threshold step_ms=10%")
        out.append((metric.strip(), parse_fraction(value, "--metric-threshold", shown=f"--metric-threshold {item}")))
    return tuple(out)


class _RunProgress:
    """Progress of the interleaved runs (one update per finished run)."""

    def __init__(self, bar: ProgressBar, labels: list[str]) -> None:
        self.bar = bar
        self.labels = labels

    def __call__(self, done: int, total: int, slot: ScheduledRun) -> None:
        what = "warm-up" if slot.warmup else f"round {slot.round + 1}"
        self.bar.update(done, total, f"{what} · {self.labels[slot.index]}")


def render_comparison_output(comparison: Comparison, fmt: CompareFormat, output: Path | None) -> None:
    """Print the comparison, or write it atomically to ``output`` (json or md)."""
    if fmt is CompareFormat.console:
        if output is not None:
            raise InputError("--output needs --format json or md; the console format prints to the terminal")
        from perfkit.render.compare_console import render_comparison

        render_comparison(comparison, stdout_console())
        return
    if fmt is CompareFormat.json:
        from perfkit.io import dumps_json

        text = dumps_json(comparison.to_dict())
    else:
        from perfkit.render.compare_markdown import comparison_markdown

        text = comparison_markdown(comparison)
    emit(text, output)


@app.command()
@handles_errors
def compare(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Experiment YAMLs and/or saved run.json files (a,b,c.json: several runs of one input). The first is the baseline."),
    ],
    vs: Annotated[list[str] | None, typer.Option("--vs", help="Compare the one base config with itself plus KEY=VALUE (repeatable: one candidate each).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key in every config: --set loop.steps=20 (repeatable).")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="Column names, one per input, in order (repeatable).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", "-n", help="Interleaved rounds: each config runs once per round.")] = DEFAULT_REPEATS,
    warmup_rounds: Annotated[int, typer.Option("--warmup-rounds", help="Rounds run first and discarded (process warm-up).")] = 1,
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest change that counts: 5% or 0.05.")] = "5%",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the tests (CI level is 1 - alpha).")] = 0.01,
    metric_threshold: Annotated[list[str] | None, typer.Option("--metric-threshold", help="Per-metric threshold, METRIC=FRACTION; METRIC may be a pattern (phase.*) (repeatable).")] = None,
    gate: Annotated[list[str] | None, typer.Option("--gate", help="Metric (or pattern) --fail-on-regression acts on; replaces the default set (repeatable).")] = None,
    counter_tolerance: Annotated[str, typer.Option("--counter-tolerance", help="Allowed relative change of deterministic counters (0 = exact).")] = "0",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap interval (one run a side only).")] = 0,
    fmt: Annotated[CompareFormat, typer.Option("--format", "-f", help="Output format.")] = CompareFormat.console,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write json/md to a file (atomically).")] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help="Exit 1 if a gated metric regressed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Compare experiments side by side: medians, ratio with CI, p-value and a verdict.

    Configs run interleaved (A B, B A, … for --repeats rounds); saved runs are read as is.
    Names and options are checked before anything runs.
    Example: perfkit compare exp.yaml --vs toggles.amp=bf16 --vs data.num_workers=2 -n 20
    """
    from perfkit.compare.inputs import check_output, collect_groups, resolve_inputs
    from perfkit.compare.metrics import validate_metric_patterns
    from perfkit.compare.policy import DEFAULT_GATED, ComparePolicy

    # Every check that needs no run happens here, before anything runs.
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1 (got {repeats})")
    if warmup_rounds < 0:
        raise InputError(f"--warmup-rounds must be >= 0 (got {warmup_rounds})")
    tolerance = parse_fraction(counter_tolerance, "--counter-tolerance")
    thresholds = parse_metric_thresholds(metric_threshold)
    validate_metric_patterns([pattern for pattern, _ in thresholds], "--metric-threshold")
    if gate:
        validate_metric_patterns(gate, "--gate")
    policy = ComparePolicy(
        threshold=parse_fraction(threshold, "--threshold"),
        alpha=alpha,
        thresholds=thresholds,
        gated=tuple(gate) if gate else DEFAULT_GATED,
        counter_mode="tolerance" if tolerance > 0 else "exact",
        counter_tolerance=tolerance,
        seed=seed,
    )
    if fmt is CompareFormat.console and output is not None:
        raise InputError("--output needs --format json or md; the console format prints to the terminal")
    specs = resolve_inputs(inputs, vs=vs or [], sets=set_ or [], labels=label or [])
    if output is not None:
        check_output(output, specs)
    with ProgressBar(enabled=not quiet) as bar:
        progress = _RunProgress(bar, [s.label for s in specs if s.is_config])
        collected = collect_groups(specs, repeats=repeats, warmup_rounds=warmup_rounds, progress=progress)

    from perfkit.compare.engine import compare_runs

    comparison = compare_runs(collected.groups, policy)
    if collected.interleaved is not None and collected.interleaved.interrupted:
        comparison = comparison.marked_interrupted(collected.interleaved.rounds_completed, repeats)
    render_comparison_output(comparison, fmt, output)
    if collected.interleaved is not None and collected.interleaved.interrupted:
        print(
            f"interrupted: compared the {collected.interleaved.rounds_completed} complete rounds",
            file=sys.stderr,
        )
        raise typer.Exit(INTERRUPTED_EXIT_CODE)
    if fail_on_regression and comparison.regressions:
        names = ", ".join(f"{r.metric} ({r.candidate})" for r in comparison.regressions)
        print(f"regressed: {names}", file=sys.stderr)
        raise typer.Exit(REGRESSION_EXIT_CODE)
