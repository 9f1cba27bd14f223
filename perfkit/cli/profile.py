"""`perfkit profile`, `validate`, `init` and `report`: one experiment, one run."""

from __future__ import annotations

import functools
import inspect
import stat
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from perfkit.cli.app import app, emit, handles_errors, stdout_console
from perfkit.errors import INTERRUPTED_EXIT_CODE, InputError

if TYPE_CHECKING:  # the config package imports pydantic: keep --help and analyze light
    from perfkit.config.loader import OverrideLike

    Overrides = list[OverrideLike]
else:  # the name typer evaluates in the command's signature
    Overrides = list


class Format(str, Enum):
    console = "console"
    json = "json"
    md = "md"


class Amp(str, Enum):
    off = "off"
    fp16 = "fp16"
    bf16 = "bf16"


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, value parsed as YAML: --set data.num_workers=4 (repeatable)."),
]


def shorthand_overrides(
    sets: list[str] | None,
    amp: Amp | None = None,
    channels_last: bool | None = None,
    workers: int | None = None,
    steps: int | None = None,
    device: str | None = None,
    compile_model: bool | None = None,
) -> list[OverrideLike]:
    """``--set`` overrides (values parsed as YAML) followed by the shorthand flags, whose
    values are already typed and are used as given."""
    from perfkit.config.loader import Override

    out: list[OverrideLike] = list(sets or [])
    flags: list[tuple[tuple[str, ...], Any, str]] = [
        (("toggles", "amp"), None if amp is None else amp.value, f"--amp {amp.value if amp else ''}"),
        (("toggles", "channels_last"), channels_last, "--channels-last" if channels_last else "--no-channels-last"),
        (("toggles", "compile"), compile_model, "--compile" if compile_model else "--no-compile"),
        (("data", "num_workers"), workers, f"--workers {workers}"),
        (("loop", "steps"), steps, f"--steps {steps}"),
        (("device",), device, f"--device {device}"),
    ]
    out += [Override(key, value, label) for key, value, label in flags if value is not None]
    return out


#: The options `profile` and `validate` share, in the order `--help` lists them.
CONFIG_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("set_", SetOption),
    ("amp", Annotated[Amp | None, typer.Option("--amp", help="Shorthand for --set toggles.amp=…")]),
    ("channels_last", Annotated[bool | None, typer.Option("--channels-last/--no-channels-last", help="toggles.channels_last")]),
    ("compile_model", Annotated[bool | None, typer.Option("--compile/--no-compile", help="toggles.compile")]),
    ("workers", Annotated[int | None, typer.Option("--workers", help="data.num_workers")]),
    ("steps", Annotated[int | None, typer.Option("--steps", help="loop.steps (measured steps)")]),
    ("device", Annotated[str | None, typer.Option("--device", help="auto | cpu | cuda | cuda:N")]),
)


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: give a command the shared ``--set`` and shorthand options.

    The command declares ``overrides: Overrides``; in the signature typer reads, that
    parameter becomes :data:`CONFIG_OPTIONS` (same names, help and order for every command
    that uses it), and the command is called with the overrides they make
    (:func:`shorthand_overrides`)."""
    signature = inspect.signature(command, eval_str=True)
    params = list(signature.parameters.values())
    at = [p.name for p in params].index("overrides")
    shared = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation)
        for name, annotation in CONFIG_OPTIONS
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sets = kwargs.pop("set_", None)
        shorthand = {name: kwargs.pop(name, None) for name, _ in CONFIG_OPTIONS[1:]}
        kwargs["overrides"] = shorthand_overrides(sets, **shorthand)
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*params[:at], *shared, *params[at + 1 :]])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{k: v for k, v in command.__annotations__.items() if k != "overrides"},
        **dict(CONFIG_OPTIONS),
    }
    return wrapper


def render_report(report: Any, fmt: Format, output: Path | None) -> None:
    """Render a RunReport to stdout, or atomically to ``output``."""
    if fmt is Format.console:
        if output is not None:
            raise InputError("--output needs --format json or md; the console format prints to the terminal")
        from perfkit.render.run_console import render_run

        render_run(report, stdout_console())
        return
    if fmt is Format.json:
        from perfkit.io import dumps_json
        from perfkit.report import run_document

        text = dumps_json(run_document(report))
    else:
        from perfkit.render.run_markdown import run_markdown

        text = run_markdown(report)
    emit(text, output)


@app.command()
@handles_errors
@config_options
def profile(
    config: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    overrides: Overrides,
    sync: Annotated[bool, typer.Option("--sync", help="Synchronise the device at every phase boundary (slower; host times then include device work).")] = False,
    trace: Annotated[bool, typer.Option("--trace", help="Record a torch.profiler trace (profiler.enabled).")] = False,
    trace_dir: Annotated[Path | None, typer.Option("--trace-dir", help="Trace folder (implies --trace).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Save the run as JSON (atomically).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format on stdout.")] = Format.console,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no console report.")] = False,
) -> None:
    """Run an experiment and report where each training step's time goes.

    Example: perfkit profile configs/quickstart.yaml --amp bf16 --workers 2 -o run.json
    """
    from perfkit.config import Override, load_config
    from perfkit.io import check_writable

    if trace or trace_dir is not None:
        overrides.append(Override(("profiler", "enabled"), True, "--trace"))
    if trace_dir is not None:
        overrides.append(Override(("profiler", "dir"), str(trace_dir), f"--trace-dir {trace_dir}"))
    loaded = load_config(config, overrides)
    if output is not None:
        check_writable(output)  # before training, not after it

    from perfkit.runtime.preflight import preflight
    from perfkit.runtime.runner import run_experiment

    preflight(loaded)
    from perfkit.cli.progress import ProgressBar
    from perfkit.errors import RunFailed

    failure: RunFailed | None = None
    with ProgressBar(enabled=not quiet) as bar:
        try:
            result = run_experiment(loaded, sync=sync, progress=bar.update)
        except RunFailed as exc:  # the steps finished before the error are kept
            failure, result = exc, exc.partial  # type: ignore[assignment]  # a RunResult
    finish_run(result, output, fmt, quiet, failure)


def finish_run(
    result: Any, output: Path | None, fmt: Format, quiet: bool, failure: Any = None, exit_on_partial: bool = True
) -> None:
    """Save (when asked) and report a run, then exit as it ended: 0 when complete, 130
    after Ctrl-C, the error's code after a failure mid-run. A partial run is saved and
    reported exactly like a whole one, marked partial."""
    from perfkit.report import build_run_report, save_run

    if output is not None:
        save_run(result, output)
    if not (quiet and fmt is Format.console):
        render_report(build_run_report(result), fmt, None)
    if failure is not None:
        saved = f"; saved to {output}" if output is not None else ""
        print(f"failed: reported the {len(result.steps)} finished steps (marked partial){saved}", file=sys.stderr)
        raise failure
    if result.partial and exit_on_partial:
        print(f"interrupted: reported the {len(result.steps)} finished steps (marked partial)", file=sys.stderr)
        raise typer.Exit(INTERRUPTED_EXIT_CODE)


@app.command()
@handles_errors
@config_options
def validate(
    config: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    overrides: Overrides,
) -> None:
    """Check an experiment file without running it (schema, names, device, imports),
    with the same overrides and shorthand flags as `perfkit profile`.

    Example: perfkit validate configs/resnet.yaml --set data.num_workers=2 --amp bf16
    """
    from perfkit.config import load_config

    loaded = load_config(config, overrides)
    from perfkit.runtime.preflight import preflight

    preflight(loaded)
    cfg = loaded.config
    print(
        f"{config}: valid · model {cfg.model.name} · data {cfg.data.name} (batch {cfg.data.batch_size}, "
        f"{cfg.data.num_workers} workers) · optimizer {cfg.optimizer.name} · "
        f"{cfg.loop.steps} steps + {cfg.loop.warmup_steps} warm-up · device {cfg.device} · amp {cfg.toggles.amp}"
    )


@app.command()
@handles_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter YAML.")] = Path("exp.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter experiment YAML.

    Example: perfkit init exp.yaml && perfkit profile exp.yaml
    """
    from importlib.resources import files

    from perfkit.io import atomic_write_text

    try:
        mode: int | None = path.stat().st_mode
    except FileNotFoundError:
        mode = None  # a new path (other OS errors name the path at the CLI's boundary)
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a directory; give the YAML a file name, e.g. {path / 'exp.yaml'}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: is {_special_kind(mode)}, not a regular file; give init a new file name, e.g. exp.yaml")
        if not force:
            raise InputError(f"{path}: already exists; pass --force to overwrite it or choose another path")
    text = files("perfkit").joinpath("templates/starter.yaml").read_text(encoding="utf-8")
    atomic_write_text(path, text)
    print(f"wrote {path}; run it with: perfkit profile {path}")


def _special_kind(mode: int) -> str:
    """``a character device``, ``a FIFO``, ... for a file that is neither regular nor a directory."""
    kinds = [
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


@app.command()
@handles_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run.json saved by perfkit profile --output.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.console,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file (json/md) atomically.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw every step's phases to an image (.png/.svg/.pdf; needs matplotlib).")] = None,
) -> None:
    """Render a saved run again (no training, no torch import).

    Example: perfkit report run.json --format md -o run.md --plot steps.png
    """
    from perfkit.io import check_writable
    from perfkit.report import build_run_report, load_run

    for target in (output if fmt is not Format.console else None, plot):
        if target is not None:
            check_writable(target)  # a bad output path fails before any reading or drawing

    built = build_run_report(load_run(run))
    if plot is not None:
        from perfkit.render.plot import plot_steps

        plot_steps(built, plot)
    render_report(built, fmt, output)
