"""`perfkit baseline save` and `perfkit gate`: the CI perf-regression job.

Thin: parse the options, load the config, policy, baseline and saved runs, call
:mod:`perfkit.gate.flow` (which holds the gate's rules: run counts, ``--paired``,
the checks before training, the candidate runs' provenance) to decide, render, and map
the decision to an exit code (0 pass, 1 regression, 2 usage/input error).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from perfkit.cli.app import app, handles_errors, stdout_console
from perfkit.errors import REGRESSION_EXIT_CODE

baseline_app = typer.Typer(help="Record the baseline the CI gate compares against.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")

SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override a config key (value parsed as YAML); repeatable.")]
PolicyOption = Annotated[Path | None, typer.Option("--policy", help="A YAML file of gate keys; replaces the config's gate: section.")]
RepeatsOption = Annotated[int | None, typer.Option("--repeats", help="Runs of the experiment (default: gate.repeats).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


class GateFormat(str, Enum):
    console = "console"
    json = "json"
    md = "md"


def _setup(config: Path, set_: list[str] | None, policy: Path | None, repeats: int | None) -> tuple[Any, Any, Any]:
    """(loaded config, gate policy with ``repeats`` applied, the policy as written), all
    validated before anything runs."""
    from perfkit.config import load_config
    from perfkit.gate.flow import with_repeats
    from perfkit.gate.policy import checked_gate, load_policy_file

    loaded = load_config(config, list(set_ or []))
    written = load_policy_file(policy) if policy is not None else checked_gate(loaded)
    return loaded, with_repeats(written, repeats), written


def _progress(quiet: bool) -> Any:
    def report(index: int, total: int, name: str) -> None:
        if not quiet:
            print(f"perfkit: run {index}/{total} of {name}", file=sys.stderr, flush=True)

    return report


@baseline_app.command("save")
@handles_errors
def baseline_save(
    config: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Baseline file to write (atomically).")],
    set_: SetOption = None,
    policy: PolicyOption = None,
    repeats: RepeatsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run an experiment `repeats` times and store the runs as the gate's baseline.

    Example: perfkit baseline save configs/quickstart.yaml --output baselines/quickstart.json
    """
    from perfkit.gate.baseline import make_baseline, save_baseline
    from perfkit.gate.flow import check_baseline_plan
    from perfkit.gate.runs import run_repeats
    from perfkit.io import check_writable

    loaded, gate, written = _setup(config, set_, policy, repeats)
    check_writable(output)
    check_baseline_plan(gate, written)
    runs = run_repeats(loaded, gate, progress=_progress(quiet))
    path = save_baseline(make_baseline(runs), output)
    print(f"baseline: {len(runs)} run(s) of {loaded.config.name} saved to {path}")


@app.command()
@handles_errors
def gate(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (the candidate).")],
    baseline: Annotated[
        list[Path],
        typer.Option("--baseline", "-b", help="Baseline from 'perfkit baseline save', or run files (repeat the option)."),
    ],
    candidate: Annotated[
        list[Path] | None,
        typer.Option("--candidate", help="Gate these saved runs instead of running the experiment (repeatable)."),
    ] = None,
    paired: Annotated[
        bool,
        typer.Option("--paired", help="Baseline run i and candidate run i ran back to back: compare round by round."),
    ] = False,
    set_: SetOption = None,
    policy: PolicyOption = None,
    repeats: RepeatsOption = None,
    md: Annotated[Path | None, typer.Option("--md", help="Write the Markdown summary here (also appended to $GITHUB_STEP_SUMMARY when set).")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here (one test case per gated metric).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the gate result as JSON here.")] = None,
    fmt: Annotated[GateFormat, typer.Option("--format", "-f", help="What to print on stdout.")] = GateFormat.console,
    allow_env_change: Annotated[bool, typer.Option("--allow-env-change", help="Compare even if device, torch or CPU count differ from the baseline's.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Run the experiment and fail (exit 1) if it regressed against the baseline.

    Counters (FLOPs, parameters, kernels/ops/syncs per step, device memory) are gated
    exactly; times statistically (past the threshold and significant).

    Example: perfkit gate configs/quickstart.yaml --baseline baselines/quickstart.json --md gate.md --junit gate.xml
    """
    from perfkit.errors import PerfkitError
    from perfkit.io import atomic_write_text, check_writable

    for path in (md, junit, json_out):
        if path is not None:
            check_writable(path)
    try:
        result = _decide(config, baseline, candidate, paired, set_, policy, repeats, allow_env_change, quiet)
    except PerfkitError as exc:
        if junit is not None:  # a CI's JUnit publisher then shows why, instead of finding nothing
            from perfkit.render.gate_report import gate_error_junit

            atomic_write_text(junit, gate_error_junit(config.stem, exc.message))
        raise
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _report(result, md, junit, json_out, fmt)
    if not result.passed:
        raise typer.Exit(REGRESSION_EXIT_CODE)


def _decide(
    config: Path,
    baseline: list[Path],
    candidate: list[Path] | None,
    paired: bool,
    set_: list[str] | None,
    policy: Path | None,
    repeats: int | None,
    allow_env_change: bool,
    quiet: bool,
) -> Any:
    """Load the inputs and let :mod:`perfkit.gate.flow` check, run (or read) and decide."""
    from perfkit.gate import load_baselines
    from perfkit.gate.flow import gate_new_runs, gate_saved_runs

    loaded, gate_cfg, _ = _setup(config, set_, policy, repeats)
    stored = load_baselines(baseline)  # a missing or corrupt baseline fails before any training
    if not candidate:
        return gate_new_runs(loaded, stored, gate_cfg, allow_env_change, paired, progress=_progress(quiet))
    from perfkit.report import load_run

    runs = [load_run(path) for path in candidate]
    source = f"{candidate[0]}" + (f" … ({len(runs)} runs)" if len(runs) > 1 else "")
    return gate_saved_runs(loaded, stored, runs, source, gate_cfg, allow_env_change, paired)


def _report(result: Any, md: Path | None, junit: Path | None, json_out: Path | None, fmt: GateFormat) -> None:
    from perfkit.io import atomic_write_text, dumps_json
    from perfkit.render.gate_report import gate_junit, gate_markdown, render_gate

    markdown = gate_markdown(result)
    if md is not None:
        atomic_write_text(md, markdown)
    if junit is not None:
        atomic_write_text(junit, gate_junit(result))
    if json_out is not None:
        atomic_write_text(json_out, dumps_json(result.to_dict()))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        except OSError as exc:
            print(f"warning: could not append to $GITHUB_STEP_SUMMARY ({summary}): {exc.strerror}", file=sys.stderr)
    if fmt is GateFormat.console:
        render_gate(result, stdout_console())
    elif fmt is GateFormat.md:
        sys.stdout.write(markdown)
    else:
        sys.stdout.write(dumps_json(result.to_dict()))
