"""Statistics derived from a :class:`~perfkit.results.RunResult`'s raw samples.

Which steps count: the measured (non-warm-up) steps that ran without the profiler, or
the traced ones when every measured step was traced (the summary says which).

* Per-phase and step times: :class:`~perfkit.stats.Distribution` over those steps.
* ``share``: a phase's total time over the total step time of those steps. Shares of the
  six phases (``other`` included) add up to exactly 1; medians of phases need not add up
  to the median step, so the "% of step" column uses totals.
* Throughput: total samples (tokens) over total sustained step time: the rate the loop
  sustained. A step's sustained time is the longer of its host and device spans
  (:attr:`~perfkit.results.StepSample.sustained_ms`): without ``--sync`` a GPU-bound loop's
  host runs steps ahead of the GPU, and host time alone would overstate the rate.
* MFU: achieved FLOP/s (FLOPs per full step × full-step equivalents ÷ total sustained
  time; a short last batch counts as the fraction of a step it is) over the device's
  datasheet peak for the dtype used; absent when either is unknown, and
  ``mfu_absent_reason`` then says which.
* Tracing overhead: median traced step ÷ median untraced step, when both exist.

This module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfkit.results import ALL_PHASES, RunResult, StepSample, phase_values
from perfkit.stats import NOISE_SEVERE_RATIO, NOISE_WARN_RATIO, Distribution, describe


@dataclass(frozen=True)
class PhaseSummary:
    phase: str
    host: Distribution
    share: float
    device: Distribution | None
    device_share: float | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median_ms": self.host.median,
            "q1_ms": self.host.q1,
            "q3_ms": self.host.q3,
            "iqr_ms": self.host.iqr,
            "p5_ms": self.host.p5,
            "p95_ms": self.host.p95,
            "mean_ms": self.host.mean,
            "share": self.share,
            "device_median_ms": None,
            "device_iqr_ms": None,
            "device_share": self.device_share,
        }
        if self.device is not None:
            out["device_median_ms"] = self.device.median
            out["device_iqr_ms"] = self.device.iqr
        return out


@dataclass(frozen=True)
class RunSummary:
    name: str
    partial: bool
    measured_steps: int
    warmup_steps: int
    traced_steps: int
    headline_from_traced: bool
    step: Distribution | None
    device_step: Distribution | None
    phases: tuple[PhaseSummary, ...]
    samples_per_s: float | None
    tokens_per_s: float | None
    step_throughput: Distribution | None
    flops_per_step: int | None
    achieved_flops_per_s: float | None
    peak_flops_per_s: float | None
    mfu: float | None
    mfu_absent_reason: str | None
    noise: float | None
    tracing_overhead: float | None
    loss_first: float | None
    loss_last: float | None

    @property
    def noise_level(self) -> str:
        """'ok', 'fluctuating' (IQR > 10 % of median) or 'severe' (> 25 %)."""
        if self.noise is None or self.noise <= NOISE_WARN_RATIO:
            return "ok"
        return "severe" if self.noise > NOISE_SEVERE_RATIO else "fluctuating"

    def phase(self, name: str) -> PhaseSummary | None:
        return next((p for p in self.phases if p.phase == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": {
                "measured": self.measured_steps,
                "warmup": self.warmup_steps,
                "traced": self.traced_steps,
                "headline_from_traced": self.headline_from_traced,
            },
            "step_ms": None if self.step is None else self.step.to_dict(),
            "device_step_ms": None if self.device_step is None else self.device_step.to_dict(),
            "phases": {p.phase: p.to_dict() for p in self.phases},
            "throughput": {
                "samples_per_s": self.samples_per_s,
                "tokens_per_s": self.tokens_per_s,
                "step_samples_per_s_median": None if self.step_throughput is None else self.step_throughput.median,
            },
            "flops": {
                "per_step": self.flops_per_step,
                "achieved_per_s": self.achieved_flops_per_s,
                "peak_per_s": self.peak_flops_per_s,
                "mfu": self.mfu,
                "mfu_absent_reason": self.mfu_absent_reason,
            },
            "noise": {"step_iqr_over_median": self.noise, "level": self.noise_level},
            "tracing_overhead": self.tracing_overhead,
            "loss": {"first": self.loss_first, "last": self.loss_last},
        }


def headline_steps(result: RunResult) -> tuple[StepSample, ...]:
    return result.measured_steps


def summarize(result: RunResult) -> RunSummary:
    """Derive every statistic a report shows from the run's raw samples."""
    steps = headline_steps(result)
    traced = result.traced_steps
    measured_all = [s for s in result.steps if s.measured]
    step = describe(phase_values(steps, "step"))
    device_step = describe(phase_values(steps, "step", device=True))
    total_ms = sum(s.step_host_ms for s in steps)
    total_device_ms = sum(s.step_device_ms or 0.0 for s in steps)
    phases: list[PhaseSummary] = []
    for phase in ALL_PHASES:
        host = describe(phase_values(steps, phase))
        if host is None:
            continue
        device_values = phase_values(steps, phase, device=True)
        phases.append(
            PhaseSummary(
                phase=phase,
                host=host,
                share=sum(s.host_ms[phase] for s in steps) / total_ms if total_ms > 0 else 0.0,
                device=describe(device_values),
                device_share=(sum(device_values) / total_device_ms) if device_values and total_device_ms > 0 else None,
            )
        )
    total_s = sum(s.sustained_ms for s in steps) / 1e3
    samples = sum(s.samples for s in steps)
    # A loop that never said how many samples a step took (the API without samples=)
    # has no sample rate: absent, not zero.
    samples_per_s = samples / total_s if total_s > 0 and samples > 0 else None
    tokens = [s.tokens for s in steps if s.tokens is not None]
    tokens_per_s = sum(tokens) / total_s if tokens and total_s > 0 else None
    counters = result.counters
    full_steps = samples / counters.samples_per_step if counters.samples_per_step > 0 else float(len(steps))
    achieved = counters.flops_per_step * full_steps / total_s if counters.flops_per_step and total_s > 0 else None
    mfu = achieved / counters.peak_flops_per_s if achieved is not None and counters.peak_flops_per_s else None
    mfu_absent_reason = None
    if mfu is None:
        if counters.flops_per_step is None:
            failed = any(w.code == "flops-unavailable" for w in result.warnings)
            mfu_absent_reason = "FLOP counting failed (see warnings)" if failed else "FLOPs not counted (interrupted run)"
        elif counters.peak_flops_per_s is None:
            mfu_absent_reason = f"no datasheet peak for {result.environment.device_name or result.environment.device_type} in {counters.flops_dtype}"
        else:
            mfu_absent_reason = "no measured steps"
    untraced = [s.step_host_ms for s in measured_all if not s.traced]
    traced_ms = [s.step_host_ms for s in traced]
    overhead = None
    if untraced and traced_ms:
        base = describe(untraced)
        tr = describe(traced_ms)
        if base is not None and tr is not None and base.median > 0:
            overhead = tr.median / base.median
    losses = [s.loss for s in steps if s.loss is not None]
    return RunSummary(
        name=result.name,
        partial=result.partial,
        measured_steps=len(steps),
        warmup_steps=sum(1 for s in result.steps if s.warmup),
        traced_steps=len(traced),
        headline_from_traced=bool(steps) and all(s.traced for s in steps),
        step=step,
        device_step=device_step,
        phases=tuple(phases),
        samples_per_s=samples_per_s,
        tokens_per_s=tokens_per_s,
        step_throughput=describe([s.samples / (s.sustained_ms / 1e3) for s in steps if s.sustained_ms > 0]) if samples > 0 else None,
        flops_per_step=counters.flops_per_step,
        achieved_flops_per_s=achieved,
        peak_flops_per_s=counters.peak_flops_per_s,
        mfu=mfu,
        mfu_absent_reason=mfu_absent_reason,
        noise=None if step is None else step.relative_iqr,
        tracing_overhead=overhead,
        loss_first=losses[0] if losses else None,
        loss_last=losses[-1] if losses else None,
    )
