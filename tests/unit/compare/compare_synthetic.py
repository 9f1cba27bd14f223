"""Synthetic runs for the compare tests and the golden files (no torch, fixed seeds).

The noise model mirrors what a shared machine does to per-step times (log scale):

    log step[t] = log base + drift[round] + offset[run] + ar1[t]

* ``drift``: shared by every run of one round (a busy neighbour, heat); pairing removes it.
* ``offset``: one per run (allocator state, thread placement); only replication over runs
  or rounds reveals it. This is the term a pooled per-step test mistakes for an effect.
* ``ar1``: step-to-step noise, autocorrelated (phi = 0.5).

Used by ``scripts/regen_golden.py`` too: keep it deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from perfkit.compare import RunGroup
from perfkit.results import (
    Counters,
    Environment,
    Measurement,
    Memory,
    RunResult,
    StepSample,
)

#: Phase shares of a step (h2d is a CPU no-op: below 1% of the step).
SHARES = {"data": 0.08, "h2d": 0.001, "forward": 0.38, "backward": 0.47, "optimizer": 0.069, "other": 0.0}


def environment(**changes: Any) -> Environment:
    fields: dict[str, Any] = {
        "perfkit_version": "0.1.0",
        "python": "3.11.9",
        "platform": "Linux-x86_64",
        "hostname": "ci-box",
        "cpu_count": 2,
        "torch": "2.13.0+cpu",
        "cuda": None,
        "cudnn": None,
        "device_type": "cpu",
        "device_name": "cpu",
        "device_capability": None,
        "device_memory_bytes": None,
        "git_sha": None,
    }
    fields.update(changes)
    return Environment(**fields)


def make_run(
    step_ms: Sequence[float],
    *,
    name: str = "exp",
    batch: int = 8,
    flops: int | None = 1_773_312,
    parameters: int = 510,
    rss: int | None = 300 * 2**20,
    device_allocated: int | None = None,
    device: bool = False,
    trace: Mapping[str, Any] | None = None,
    env: Environment | None = None,
    warmup: int = 1,
    partial: bool = False,
) -> RunResult:
    """A RunResult whose measured steps take ``step_ms`` (plus ``warmup`` slower steps)."""
    steps: list[StepSample] = []
    all_ms = [float(step_ms[0]) * 3.0] * warmup + [float(v) for v in step_ms]
    for index, total in enumerate(all_ms):
        host = {phase: total * share for phase, share in SHARES.items()}
        host["other"] = total - sum(v for k, v in host.items() if k != "other")
        dev = {phase: v * 0.9 for phase, v in host.items()} if device else None
        steps.append(
            StepSample(
                index=index,
                warmup=index < warmup,
                traced=False,
                host_ms=host,
                step_host_ms=total,
                device_ms=dev,
                step_device_ms=total * 0.9 if device else None,
                samples=batch,
                tokens=None,
                loss=2.0 - 0.01 * index,
                grad_norm=1.0,
            )
        )
    return RunResult(
        name=name,
        started_at="2026-01-01T00:00:00+00:00",
        config={"name": name, "data": {"batch_size": batch}},
        environment=env or environment(),
        measurement=Measurement(clock="perf_counter", sync=False, amp_dtype=None),
        counters=Counters(
            parameters=parameters,
            trainable_parameters=parameters,
            flops_per_step=flops,
            flops_dtype="fp32",
            peak_flops_per_s=None,
            samples_per_step=batch,
            tokens_per_step=None,
            conv_layers=2,
        ),
        memory=Memory(
            device_peak_allocated_bytes=device_allocated,
            device_peak_reserved_bytes=device_allocated,
            device_total_bytes=None,
            host_peak_rss_bytes=rss,
        ),
        steps=tuple(steps),
        partial=partial,
        trace=trace,
    )


def ar1(rng: np.random.Generator, n: int, sd: float, phi: float = 0.5) -> np.ndarray:
    """Stationary AR(1) noise with marginal standard deviation ``sd``."""
    out = np.empty(n)
    innovation = sd * np.sqrt(1 - phi**2)
    out[0] = rng.normal(0.0, sd)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + rng.normal(0.0, innovation)
    return out


def noisy_steps(rng: np.random.Generator, base_ms: float, n: int, level: float, step_sd: float) -> list[float]:
    return [float(v) for v in base_ms * np.exp(level + ar1(rng, n, step_sd))]


def interleaved_pair(
    seed: int,
    *,
    rounds: int = 10,
    ratio: float = 1.0,
    base_ms: float = 10.0,
    steps: int = 20,
    drift_sd: float = 0.08,
    run_sd: float = 0.03,
    step_sd: float = 0.05,
    labels: tuple[str, str] = ("base", "cand"),
    **run_kwargs: Any,
) -> list[RunGroup]:
    """Two groups as the interleaved runner makes them; the candidate is ``ratio`` × slower."""
    rng = np.random.default_rng(seed)
    runs: tuple[list[RunResult], list[RunResult]] = ([], [])
    for _ in range(rounds):
        drift = rng.normal(0.0, drift_sd)
        for side, factor in ((0, 1.0), (1, ratio)):
            level = drift + rng.normal(0.0, run_sd)
            runs[side].append(make_run(noisy_steps(rng, base_ms * factor, steps, level, step_sd), **run_kwargs))
    return [
        RunGroup(label=labels[side], runs=tuple(runs[side]), rounds=tuple(range(rounds)), source=f"{labels[side]}.yaml")
        for side in (0, 1)
    ]


def single_runs(seed: int, *, ratio: float = 1.0, run_sd: float = 0.1, steps: int = 30, step_sd: float = 0.05) -> list[RunGroup]:
    """One saved run per side: the run offsets are invisible to any test."""
    rng = np.random.default_rng(seed)
    a = make_run(noisy_steps(rng, 10.0, steps, rng.normal(0.0, run_sd), step_sd))
    b = make_run(noisy_steps(rng, 10.0 * ratio, steps, rng.normal(0.0, run_sd), step_sd))
    return [RunGroup("a", (a,), source="a.json"), RunGroup("b", (b,), source="b.json")]


def golden_groups() -> list[RunGroup]:
    """The inputs of the golden files (every design and incomparable case once):

    * ``base``/``slow``: interleaved, the candidate 12% slower (paired, regressed);
    * ``batch16``: interleaved, batch 16 and twice the parameters (per-step rows
      incomparable, throughput compared, parameter count changed);
    * ``torch211``: one saved run from another torch build (environment incomparable,
      one-run-a-side note).
    """
    pair = interleaved_pair(7, rounds=10, ratio=1.12, labels=("base", "slow"))
    rng = np.random.default_rng(11)
    wide = [
        make_run(noisy_steps(rng, 20.0, 20, rng.normal(0.0, 0.03), 0.05), batch=16, flops=3_546_624, parameters=1020)
        for _ in range(10)
    ]
    third = RunGroup("batch16", tuple(wide), rounds=tuple(range(10)), source="wide.yaml")
    other = make_run(noisy_steps(rng, 10.0, 20, 0.0, 0.05), env=environment(torch="2.11.0+cpu", hostname="laptop"))
    fourth = RunGroup("torch211", (other,), source="runs/torch211.json")
    return [*pair, third, fourth]


__all__ = [
    "SHARES",
    "environment",
    "golden_groups",
    "interleaved_pair",
    "make_run",
    "noisy_steps",
    "single_runs",
]
