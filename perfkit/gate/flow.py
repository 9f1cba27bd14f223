"""The gate's rules around the decision, in the order they apply (the CLI only parses,
calls these, renders and maps the outcome to an exit code):

1. :func:`with_repeats`: ``--repeats`` replaces ``gate.repeats`` (at least 1).
2. :func:`check_baseline_plan`: ``baseline save`` refuses, before any run, a baseline the
   gate could never find significant against its own ``gate.repeats`` candidate runs.
3. :func:`gate_saved_runs` (``--candidate``): ``--paired`` needs as many candidate runs as
   baseline runs; runs whose experiment name or config differ from the config given are
   compared anyway, with a warning (:func:`provenance_warnings`).
4. :func:`gate_new_runs`: ``--paired`` is refused (runs made now cannot pair with an old
   baseline); the run counts and the environment are checked before training
   (:func:`perfkit.gate.runs.precheck`); then ``gate.repeats`` runs are made and judged.

The decision itself is :func:`perfkit.gate.engine.evaluate_gate`. Nothing here imports
torch except through :mod:`perfkit.gate.runs` when the gate trains.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from perfkit.config.loader import LoadedConfig
from perfkit.config.schema import GateConfig
from perfkit.errors import InputError
from perfkit.gate.baseline import Baseline
from perfkit.gate.engine import GateResult, check_run_counts, evaluate_gate
from perfkit.gate.policy import compare_policy
from perfkit.gate.runs import Progress
from perfkit.results import RunResult, thawed

#: Config keys that do not change what a run measures, left out of the config hash: the
#: experiment's name (warned about on its own), where traces go, and the gate's policy.
UNHASHED_KEYS: tuple[str, ...] = ("name", "profiler", "gate")


def with_repeats(gate: GateConfig, repeats: int | None) -> GateConfig:
    """``gate`` with ``--repeats`` applied (``None``: as written)."""
    if repeats is None:
        return gate
    if repeats < 1:
        raise InputError(f"--repeats {repeats}: must be at least 1")
    return gate.model_copy(update={"repeats": repeats})


def check_baseline_plan(gate: GateConfig, written: GateConfig) -> None:
    """A baseline of ``gate.repeats`` runs that the gate (``written.repeats`` candidate
    runs, the policy as written, before ``--repeats``) could never find significant is
    refused before anything runs."""
    check_run_counts(gate.repeats, written.repeats, compare_policy(gate), paired=False, how="--repeats and gate.repeats")


def gate_saved_runs(
    loaded: LoadedConfig,
    baseline: Baseline,
    runs: Sequence[RunResult],
    source: str,
    gate: GateConfig,
    allow_env_change: bool = False,
    paired: bool = False,
) -> GateResult:
    """Judge saved candidate runs (``--candidate``) read from ``source``. The config gives
    the policy; when the runs were made from another experiment or config, the result
    carries a warning saying so (the gate still decides)."""
    if not runs:
        raise InputError("--candidate: give at least one saved run")
    if paired and len(runs) != len(baseline.runs):
        raise InputError(f"--paired needs as many candidate runs as baseline runs ({len(runs)} vs {len(baseline.runs)})")
    rules = compare_policy(gate, ignore_environment=allow_env_change)
    result = evaluate_gate(
        baseline, runs, rules, allow_env_change, paired=paired, candidate_source=source, candidate_in_process=False
    )
    warnings = provenance_warnings(loaded, runs, source)
    return replace(result, warnings=result.warnings + warnings) if warnings else result


def gate_new_runs(
    loaded: LoadedConfig,
    baseline: Baseline,
    gate: GateConfig,
    allow_env_change: bool = False,
    paired: bool = False,
    progress: Progress | None = None,
) -> GateResult:
    """Run the experiment ``gate.repeats`` times and judge the runs, after every check
    that can fail without training."""
    if paired:
        raise InputError("--paired applies to saved runs (--candidate); runs made now cannot pair with an old baseline")
    from perfkit.gate.runs import precheck, run_repeats

    rules = compare_policy(gate, ignore_environment=allow_env_change)
    check_run_counts(len(baseline.runs), gate.repeats, rules, paired=False)
    precheck(loaded, baseline, gate, allow_env_change)
    runs = run_repeats(loaded, gate, progress=progress)
    return evaluate_gate(baseline, runs, rules, allow_env_change)


# --- where the candidate runs came from ---------------------------------------------------


def provenance_warnings(loaded: LoadedConfig, runs: Sequence[RunResult], source: str) -> tuple[str, ...]:
    """Warnings when saved candidate runs were not made from the config given: another
    experiment name, or another config hash (the keys that differ are named)."""
    config = loaded.config
    where = str(loaded.path) if loaded.path is not None else "the config"
    warnings: list[str] = []
    names = sorted({run.name for run in runs} - {config.name})
    if names:
        warnings.append(
            f"{source}: the candidate runs are of experiment {', '.join(repr(n) for n in names)}, "
            f"not '{config.name}' of {where}; pass the config the runs were made with"
        )
    ours = comparable_config(config.model_dump(mode="json"))
    ours_hash = config_hash(ours)
    theirs = [comparable_config(run.config) for run in runs]
    other_hashes = sorted({config_hash(c) for c in theirs} - {ours_hash})
    if other_hashes:
        keys = sorted({key for c in theirs for key in differing_keys(ours, c)})
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        warnings.append(
            f"{source}: the candidate runs were made with another config (hash {', '.join(other_hashes)}, "
            f"{where}: {ours_hash}; differs in {shown}); pass the config the runs were made with, "
            "or re-make the runs from it"
        )
    return tuple(warnings)


def comparable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's config as this perfkit would write it (defaults of keys added since filled
    in, when it still validates), without :data:`UNHASHED_KEYS`."""
    from pydantic import ValidationError

    from perfkit.config.schema import ExperimentConfig

    plain = thawed(config)
    with contextlib.suppress(ValidationError):  # when written by another perfkit: compared as it is
        plain = ExperimentConfig.model_validate(plain).model_dump(mode="json")
    return {key: value for key, value in plain.items() if key not in UNHASHED_KEYS}


def config_hash(config: Mapping[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the config's canonical JSON."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like configs."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            dotted = f"{prefix}.{key}" if prefix else str(key)
            keys += differing_keys(a.get(key), b.get(key), dotted) if key in a and key in b else [dotted]
        return keys
    return [] if a == b else [prefix or "(the whole config)"]

