"""Running one experiment ``repeats`` times for a baseline or a gate candidate.

Each run is a full, independent run (build, warm-up, measured steps), so the spread
between runs measures the run-to-run noise the gate's statistics need. With
``gate.trace`` each run also records a short torch.profiler trace into a temporary
folder, which gives the kernel, op and host-sync counts per step; traced steps are
kept out of the timings by the loop.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace

from perfkit.config.loader import LoadedConfig
from perfkit.config.schema import GateConfig
from perfkit.results import RunResult

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
