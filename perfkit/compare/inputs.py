"""What ``perfkit compare`` was given: experiment configs, saved runs, or a base and ``--vs``.

* ``exp.yaml`` (any non-JSON path): an experiment config, run ``--repeats`` times,
  interleaved with the other configs. ``--set`` overrides apply to every config.
* ``run.json``: a saved run (``perfkit profile --output``); ``a.json,b.json,c.json`` (comma
  separated): several saved runs of one input, compared run by run (unpaired). An input or
  a list entry that names no file (``""``, ``,``, ``a.json,,b.json``) is refused.
* ``exp.yaml --vs KEY=VALUE [--vs KEY=VALUE …]``: the base config, and one candidate per
  ``--vs`` (the base with that override added).

Every input is loaded and validated before anything runs, so a typo in the third config
fails in a second, not after the first two have trained; duplicate ``--label`` values and
an ``--output`` that cannot be written (:func:`check_output`) fail before that. Loading saved runs never
imports torch; the runner is imported only when a config must run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfkit.compare.groups import RunGroup
from perfkit.compare.interleave import (
    ConfigInput,
    InterleavedRuns,
    ProgressFn,
    RunFn,
    run_interleaved,
)
from perfkit.errors import INTERRUPTED_EXIT_CODE, InputError, PerfkitError

if TYPE_CHECKING:
    from perfkit.config.loader import OverrideLike


class InterruptedCompare(PerfkitError):
    """Ctrl-C before the first round completed: nothing to compare."""

    exit_code = INTERRUPTED_EXIT_CODE


@dataclass(frozen=True)
class InputSpec:
    """One input as given: saved run files, or one config with its overrides."""

    label: str
    paths: tuple[Path, ...]
    overrides: tuple[OverrideLike, ...] = ()
    is_config: bool = False

    @property
    def source(self) -> str:
        text = ",".join(str(p) for p in self.paths)
        return text + "".join(f" --set {o}" if isinstance(o, str) else f" {o.label}" for o in self.overrides)


def _is_run_file(path: str) -> bool:
    return path.lower().endswith(".json")


def _default_labels(candidates: Sequence[tuple[str, tuple[Path, ...]]]) -> list[str]:
    """File stems; the parent folder is added where stems collide, then ``-2``, ``-3``."""
    names = [name for name, _ in candidates]
    labels = list(names)
    for i, (name, paths) in enumerate(candidates):
        parents = {p[0].parent for n, p in candidates if n == name}
        if names.count(name) > 1 and len(parents) > 1 and len(paths) == 1 and paths[0].parent.name:
            labels[i] = f"{paths[0].parent.name}/{name}"
    seen: dict[str, int] = {}
    out: list[str] = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return out


def _check_not_empty(text: str, position: int) -> None:
    """Refuse an input that names no file: ``""``, ``,`` or an empty entry in ``a.json,,b.json``."""
    shown = f"input {position} ({text!r})"
    if not text.replace(",", "").strip():
        raise InputError(f"{shown}: names no file; pass an experiment YAML or a saved run.json")
    if "," in text and any(not part.strip() for part in text.split(",")):
        raise InputError(
            f"{shown}: has an empty entry in its comma-separated list; list saved runs as a.json,b.json"
        )


def resolve_inputs(
    inputs: Sequence[str],
    *,
    vs: Sequence[str] = (),
    sets: Sequence[str] = (),
    labels: Sequence[str] = (),
) -> list[InputSpec]:
    """Turn the command line into input specs (no file is read yet)."""
    for position, text in enumerate(inputs, start=1):
        _check_not_empty(text, position)
    if vs:
        if len(inputs) != 1:
            raise InputError(f"--vs compares one base config with its variants; got {len(inputs)} inputs")
        if _is_run_file(inputs[0]) or "," in inputs[0]:
            raise InputError(f"{inputs[0]}: --vs needs an experiment config as its base, not a saved run")
        # Imported only with --vs: comparing saved runs imports no pydantic.
        from perfkit.config.loader import parse_override

        base = Path(inputs[0])
        raw: list[tuple[str, tuple[Path, ...], tuple[OverrideLike, ...], bool]] = [(base.stem, (base,), tuple(sets), True)]
        raw += [(override, (base,), (*sets, parse_override(override, flag="--vs")), True) for override in vs]
    else:
        raw = []
        for text in inputs:
            if "," in text or _is_run_file(text):
                parts = tuple(Path(p) for p in text.split(","))
                bad = [str(p) for p in parts if not _is_run_file(str(p))]
                if bad:
                    raise InputError(f"{text}: a comma-separated input lists saved runs (.json); {', '.join(bad)} is not one")
                stem = parts[0].stem if len(parts) == 1 else f"{parts[0].stem}…{parts[-1].stem}"
                raw.append((stem, parts, (), False))
            else:
                raw.append((Path(text).stem, (Path(text),), tuple(sets), True))
    if len(raw) < 2:
        raise InputError(
            f"compare needs at least two inputs (got {len(raw)}); pass two configs or saved runs, "
            "or one config and --vs KEY=VALUE"
        )
    if sets and not any(is_config for *_, is_config in raw):
        raise InputError("--set applies to experiment configs, and every input is a saved run")
    if labels:
        if len(labels) != len(raw):
            raise InputError(f"--label was given {len(labels)} times for {len(raw)} inputs; give one per input, in order")
        names = list(labels)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InputError(f"--label {', '.join(duplicates)} is given to more than one input; labels must differ")
    else:
        names = _default_labels([(name, paths) for name, paths, *_ in raw])
    return [
        InputSpec(label=label, paths=paths, overrides=overrides, is_config=is_config)
        for label, (_, paths, overrides, is_config) in zip(names, raw, strict=True)
    ]


def check_output(output: Path, specs: Sequence[InputSpec]) -> Path:
    """Fail before any run if ``output`` cannot be written or would overwrite an input."""
    from perfkit.io import check_writable

    target = check_writable(output)
    resolved = target.resolve()
    for spec in specs:
        for path in spec.paths:
            if path.resolve() == resolved:
                raise InputError(f"--output {output}: is one of the inputs ({spec.label}); choose another file")
    return target


def load_saved(spec: InputSpec) -> RunGroup:
    """Read an input's saved runs (one-line InputError/SchemaError for bad files)."""
    from perfkit.report import load_run

    runs = tuple(load_run(path) for path in spec.paths)
    return RunGroup(label=spec.label, runs=runs, rounds=None, source=spec.source, in_process=False)


def load_configs(specs: Sequence[InputSpec]) -> list[ConfigInput]:
    """Load and validate the configs among ``specs`` (ConfigError names the key and file)."""
    from perfkit.config import load_config

    return [
        ConfigInput(label=s.label, config=load_config(s.paths[0], list(s.overrides)), source=s.source)
        for s in specs
        if s.is_config
    ]


def default_runner() -> RunFn:
    """:func:`perfkit.runtime.runner.run_experiment`, imported only now (it imports torch)."""
    from perfkit.runtime.runner import run_experiment

    return run_experiment


@dataclass(frozen=True)
class CollectedInputs:
    groups: tuple[RunGroup, ...]
    interleaved: InterleavedRuns | None


def collect_groups(
    specs: Sequence[InputSpec],
    *,
    repeats: int,
    warmup_rounds: int = 1,
    run: RunFn | None = None,
    progress: ProgressFn | None = None,
    runner_factory: Callable[[], RunFn] = default_runner,
) -> CollectedInputs:
    """Load saved runs, run the configs interleaved, and return the groups in input order.

    ``run`` defaults to :func:`perfkit.runtime.runner.run_experiment`, after a preflight
    of every config (device, AMP plan, component names), so that a bad name in the last
    config fails before the first one trains.
    """
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1 (got {repeats})")
    if warmup_rounds < 0:
        raise InputError(f"--warmup-rounds must be >= 0 (got {warmup_rounds})")
    saved = {s.label: load_saved(s) for s in specs if not s.is_config}
    configs = load_configs(specs)
    interleaved: InterleavedRuns | None = None
    ran: dict[str, RunGroup] = {}
    if configs:
        if run is None:
            run = runner_factory()
            from perfkit.runtime.preflight import preflight

            for item in configs:  # device, AMP plan and component names, before any training
                preflight(item.config)
        interleaved = run_interleaved(configs, run, repeats=repeats, warmup_rounds=warmup_rounds, progress=progress)
        if not interleaved.groups:
            raise InterruptedCompare("interrupted before the first round completed; nothing to compare")
        ran = {g.label: g for g in interleaved.groups}
    groups = tuple(saved[s.label] if not s.is_config else ran[s.label] for s in specs)
    return CollectedInputs(groups=groups, interleaved=interleaved)


__all__ = [
    "CollectedInputs",
    "InputSpec",
    "InterruptedCompare",
    "check_output",
    "collect_groups",
    "default_runner",
    "load_configs",
    "load_saved",
    "resolve_inputs",
]
