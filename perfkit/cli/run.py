"""`perfkit run`: profile an unmodified training script."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from perfkit.cli.app import app, handles_errors
from perfkit.cli.profile import Format, finish_run
from perfkit.errors import INTERRUPTED_EXIT_CODE, InputError


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "allow_interspersed_args": False}
)
@handles_errors
def run(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(help="The training script; arguments after it go to the script.")],
    warmup: Annotated[int, typer.Option("--warmup", help="Warm-up steps, excluded from the statistics.")] = 5,
    steps: Annotated[int, typer.Option("--steps", help="Measured steps.")] = 20,
    stop: Annotated[bool, typer.Option("--stop/--no-stop", help="Stop the script once the steps are measured (default), or let it finish.")] = True,
    trace: Annotated[bool, typer.Option("--trace", help="Record a torch.profiler trace right after warm-up.")] = False,
    trace_dir: Annotated[Path | None, typer.Option("--trace-dir", help="Trace folder (implies --trace).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default: the script's name).")] = None,
    device: Annotated[str, typer.Option("--device", help="The device the script trains on: auto | cpu | cuda | cuda:N.")] = "auto",
    sync: Annotated[bool, typer.Option("--sync", help="Synchronise the device at every phase boundary.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Save the run as JSON (atomically).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format on stdout.")] = Format.console,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No console report.")] = False,
) -> None:
    """Profile an unmodified training script: phases come from torch's own hooks
    (DataLoader, module forward, backward, optimizer step). Options go before the
    script; everything after it is the script's.

    Example: perfkit run --steps 30 -o run.json train.py --epochs 1
    """
    if warmup < 0:
        raise InputError(f"--warmup: must be >= 0 (got {warmup})")
    if steps < 1:
        raise InputError(f"--steps: must be at least 1 (got {steps})")
    from perfkit.io import check_writable

    if output is not None:
        check_writable(output)
    profiler = None
    if trace or trace_dir is not None:
        from perfkit.config.schema import ProfilerConfig

        profiler = ProfilerConfig(enabled=True) if trace_dir is None else ProfilerConfig(enabled=True, dir=str(trace_dir))
        if profiler.wait + profiler.warmup + profiler.active > steps:
            raise InputError(
                f"--steps {steps}: the trace needs {profiler.wait + profiler.warmup + profiler.active} steps after "
                "warm-up (profiler wait + warmup + active); raise --steps"
            )
    from perfkit.runtime.device import resolve_device
    from perfkit.runtime.run_script import run_script
    from perfkit.runtime.session import Session

    session = Session(
        name or script.stem or "script",
        device=resolve_device(device),
        warmup_steps=warmup,
        steps=steps,
        trace=profiler or False,
        sync=sync,
        source="script",
        config={"script": str(script), "argv": list(ctx.args)},
    )
    outcome = run_script(script, list(ctx.args), session, stop_when_done=stop)
    if outcome.traceback_text is not None:
        sys.stderr.write(outcome.traceback_text)
    result = outcome.result
    if not result.steps:
        if outcome.error is not None:
            raise typer.Exit(outcome.exit_code)  # the script failed before a step: its traceback says why
        why = outcome.missing_hook or "the script ended before its first step"
        if outcome.interrupted:
            raise typer.Exit(INTERRUPTED_EXIT_CODE)
        raise InputError(f"{script}: no training step was measured: {why}")
    finish_run(result, output, fmt, quiet, exit_on_partial=False)
    if outcome.interrupted:
        print(f"interrupted: reported the {len(result.steps)} finished steps (marked partial)", file=sys.stderr)
        raise typer.Exit(INTERRUPTED_EXIT_CODE)
    if outcome.error is not None:
        print(
            f"{script}: the script raised {type(outcome.error).__name__}; reported the {len(result.steps)} "
            "finished steps (marked partial)",
            file=sys.stderr,
        )
    raise typer.Exit(outcome.exit_code)
