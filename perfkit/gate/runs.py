"""Running one experiment ``repeats`` times for a baseline or a gate candidate.

Each run is a full, independent run (build, warm-up, measured steps), so the spread
between runs measures the run-to-run noise the gate's statistics need. With
``gate.trace`` each run also records a short torch.profiler trace into a temporary
folder, which gives the kernel, op and host-sync counts per step; traced steps are
kept out of the timings by the loop.
"""

from __future__ import annotations

import fnmatch
import tempfile
from collections.abc import Callable
from dataclasses import replace

from perfkit.config.loader import LoadedConfig
from perfkit.config.schema import GateConfig
from perfkit.errors import IncomparableError, InputError
from perfkit.gate.baseline import Baseline
from perfkit.results import RunResult

TRACE_COUNTERS = ("trace.kernels_per_step", "trace.ops_per_step", "trace.syncs_per_step")

Progress = Callable[[int, int, str], None]


def _with_tracing(loaded: LoadedConfig, trace_dir: str) -> LoadedConfig:
    """The same experiment with the profiler on, writing into ``trace_dir``."""
    cfg = loaded.config
    profiler = cfg.profiler.model_copy(update={"enabled": True, "dir": trace_dir})
    return replace(loaded, config=cfg.model_copy(update={"profiler": profiler}))


def run_repeats(loaded: LoadedConfig, gate: GateConfig, progress: Progress | None = None) -> list[RunResult]:
    """``gate.repeats`` runs of the experiment, in order. Ctrl-C is not caught here: a
    baseline or gate from an interrupted series would be misleading."""
    from perfkit.runtime.runner import run_experiment

    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="perfkit-gate-") as trace_dir:
        config = _with_tracing(loaded, trace_dir) if gate.trace else loaded
        for index in range(gate.repeats):
            if progress is not None:
                progress(index + 1, gate.repeats, config.config.name)
            result = run_experiment(config)
            if result.partial:
                raise KeyboardInterrupt
            runs.append(result)
    return runs


def precheck(loaded: LoadedConfig, baseline: Baseline, gate: GateConfig, allow_env_change: bool) -> None:
    """What can be known to fail before training: another torch build, CPU count or
    device type than the baseline's, or trace counters the baseline never recorded."""
    import os

    import torch

    from perfkit.runtime.device import resolve_device

    if not allow_env_change:
        env = baseline.runs[0].environment
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        here = {"torch": torch.__version__, "CPU count": str(cpus), "device type": resolve_device(loaded.config.device).type}
        there = {"torch": env.torch, "CPU count": str(env.cpu_count), "device type": env.device_type}
        changes = [f"{key} {there[key]} vs {here[key]}" for key in here if here[key] != there[key]]
        if changes:
            raise IncomparableError(
                f"{baseline.source or 'baseline'}: recorded on another environment ({'; '.join(changes)}); "
                "re-record the baseline on this machine, or pass --allow-env-change to compare anyway"
            )
    traced_counters = any(fnmatch.fnmatchcase(name, pattern) for pattern in gate.metrics for name in TRACE_COUNTERS)
    if gate.trace and traced_counters and any(run.trace is None for run in baseline.runs):
        raise InputError(
            f"{baseline.source or 'baseline'}: recorded without a trace, so its kernel/op/sync counters cannot be "
            "compared; re-record it with gate.trace: true, or set gate.trace: false"
        )
