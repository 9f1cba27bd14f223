"""When two inputs cannot be compared, and what a reader should know about their setups.

Hard differences make a metric *incomparable* (the verdict names them):

* **environment** — the device (type and name), the torch version or the CPU count
  differ. Timings, memory and counters measured by torch depend on all three; only the
  parameter count does not (``MetricSpec.env_bound``).
* **batch** — samples (or tokens) per step differ. A per-step metric (step and phase
  times, FLOPs per step, kernel and op counts per step) then measures different work, so
  it is incomparable; throughput is per sample and stays comparable, and peak memory is
  per run (a batch change legitimately moves it, and that is what one wants to see).
* **host RSS of in-process runs without a per-run reset** — ``ru_maxrss`` is the
  process's lifetime peak; when ``perfkit compare`` ran the configs itself and the
  high-water mark could not be reset per run (not Linux), every run reports the peak of
  all runs before it.

Soft differences (Python, platform, host name, CUDA, cuDNN) only produce a note.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfkit.compare.groups import RunGroup
from perfkit.compare.metrics import HOST_RSS, MetricSpec
from perfkit.results import Environment, RunResult


def device_label(env: Environment) -> str:
    return env.device_type if env.device_name in ("", env.device_type) else f"{env.device_type} ({env.device_name})"


def _hard(env: Environment) -> dict[str, str]:
    return {"device": device_label(env), "torch": str(env.torch), "CPU count": str(env.cpu_count)}


def _soft(env: Environment) -> dict[str, str]:
    return {
        "Python": str(env.python),
        "platform": str(env.platform),
        "host": str(env.hostname),
        "CUDA": str(env.cuda),
        "cuDNN": str(env.cudnn),
    }


def _differences(fields: dict[str, str], other: dict[str, str]) -> list[str]:
    return [f"{key} {fields[key]} vs {other[key]}" for key in fields if fields[key] != other[key]]


def environment_differences(baseline: Sequence[RunResult], candidate: Sequence[RunResult]) -> list[str]:
    """Hard differences between any run of ``candidate`` (or ``baseline``) and the baseline's first run."""
    reference = _hard(baseline[0].environment)
    found: list[str] = []
    for run in (*baseline[1:], *candidate):
        for diff in _differences(reference, _hard(run.environment)):
            if diff not in found:
                found.append(diff)
    return found


def soft_differences(baseline: RunResult, candidate: RunResult) -> list[str]:
    return _differences(_soft(baseline.environment), _soft(candidate.environment))


def _per_step_work(run: RunResult) -> tuple[int, int | None]:
    return run.counters.samples_per_step, run.counters.tokens_per_step


def batch_difference(baseline: Sequence[RunResult], candidate: Sequence[RunResult]) -> str | None:
    """``"batch 8 vs 16"`` (samples per step) when the work per step differs, else None."""
    ref = _per_step_work(baseline[0])
    for run in (*baseline[1:], *candidate):
        samples, tokens = _per_step_work(run)
        if samples != ref[0]:
            return f"batch {ref[0]} vs {samples}"
        if tokens != ref[1]:
            return f"{ref[1]} vs {tokens} tokens/step"
    return None


def incomparable_reason(
    spec: MetricSpec, baseline: RunGroup, candidate: RunGroup, ignore_environment: bool = False
) -> str | None:
    """Why ``spec`` cannot be compared between the two groups, or None.

    ``ignore_environment`` drops the environment rule (``ComparePolicy.ignore_environment``).
    """
    reasons: list[str] = []
    if spec.env_bound and not ignore_environment:
        env = environment_differences(baseline.runs, candidate.runs)
        if env:
            reasons.append(", ".join(env))
    if spec.per_step:
        batch = batch_difference(baseline.runs, candidate.runs)
        if batch is not None:
            reasons.append(f"per step, {batch}")
    if spec.name == HOST_RSS.name and (baseline.lifetime_rss_shared or candidate.lifetime_rss_shared):
        reasons.append("lifetime peak of this process")
    return "; ".join(reasons) if reasons else None


__all__ = [
    "batch_difference",
    "device_label",
    "environment_differences",
    "incomparable_reason",
    "soft_differences",
]
