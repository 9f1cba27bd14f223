"""The stored baseline: several runs of one experiment, with their environment.

A baseline file is ``{"kind": "perfkit.baseline", "schema_version": 1, "name", "created_at",
"runs": [<run document>, …]}``; each run is a full ``RunResult`` document (its own
``schema_version`` is checked too). A single ``run.json`` from ``perfkit profile -o`` is
accepted as a one-run baseline. Files are written atomically.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfkit.errors import InputError, SchemaError
from perfkit.io import atomic_write_json, read_json
from perfkit.results import RESULT_KIND, RunResult

BASELINE_KIND = "perfkit.baseline"
BASELINE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Baseline:
    name: str
    created_at: str
    runs: tuple[RunResult, ...]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        from perfkit.report import build_run_report, run_document

        return {
            "kind": BASELINE_KIND,
            "schema_version": BASELINE_SCHEMA_VERSION,
            "name": self.name,
            "created_at": self.created_at,
            "runs": [run_document(build_run_report(run)) for run in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Baseline:
        if isinstance(data, Mapping) and data.get("kind") == RESULT_KIND:
            run = RunResult.from_dict(data, source=source)
            return cls(name=run.name, created_at=run.started_at, runs=(run,), source=source)
        if not isinstance(data, Mapping) or data.get("kind") != BASELINE_KIND:
            raise InputError(
                f"{source}: not a perfkit baseline (no \"kind\": \"{BASELINE_KIND}\"); "
                "create one with 'perfkit baseline save exp.yaml --output FILE'"
            )
        version = data.get("schema_version")
        if version != BASELINE_SCHEMA_VERSION:
            raise SchemaError(
                f"{source}: baseline schema_version {version}, this perfkit reads {BASELINE_SCHEMA_VERSION}; "
                "re-create it with 'perfkit baseline save'"
            )
        raw_runs = data.get("runs")
        if not isinstance(raw_runs, list) or not raw_runs:
            raise InputError(f"{source}: the baseline holds no runs; re-create it with 'perfkit baseline save'")
        runs = tuple(RunResult.from_dict(r, source=f"{source} (run {i + 1})") for i, r in enumerate(raw_runs))
        return cls(
            name=str(data.get("name", runs[0].name)),
            created_at=str(data.get("created_at", "")),
            runs=runs,
            source=source,
        )


def make_baseline(runs: Sequence[RunResult]) -> Baseline:
    if not runs:
        raise InputError("a baseline needs at least one run")
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return Baseline(name=runs[0].name, created_at=created, runs=tuple(runs))


def save_baseline(baseline: Baseline, path: str | Path) -> Path:
    return atomic_write_json(path, baseline.to_dict())


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline; a missing, corrupt, foreign or outdated file is a one-line error."""
    source = Path(path)
    if not source.exists():
        raise InputError(
            f"{source}: no such baseline; create it with 'perfkit baseline save exp.yaml --output {source}'"
        )
    return Baseline.from_dict(read_json(source, what="perfkit baseline"), source=str(source))


def load_baselines(paths: Sequence[str | Path]) -> Baseline:
    """One baseline file, or several files (baselines or single runs) whose runs are
    combined in the given order (for paired gating, run ``i`` pairs with candidate ``i``)."""
    if not paths:
        raise InputError("--baseline: give a baseline file (or run files)")
    parts = [load_baseline(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    runs = tuple(run for part in parts for run in part.runs)
    source = f"{parts[0].source} … ({len(runs)} runs)"
    return Baseline(name=parts[0].name, created_at=parts[0].created_at, runs=runs, source=source)
