"""Which metrics a comparison reads from a :class:`~perfkit.results.RunResult`, and how.

:func:`extract_metrics` turns one run into ``{name: MetricValue}``. The CI gate reuses it,
so metric names are a stable interface:

======================================  =========  =========  ========  ========================
name                                    unit       direction  kind      per run
======================================  =========  =========  ========  ========================
``step_ms``                             ms         lower      measured  median host step
``step_device_ms``                      ms         lower      measured  median device step
``phase.<phase>.host_ms``               ms         lower      measured  median over steps
``phase.<phase>.device_ms``             ms         lower      measured  median over steps
``throughput.samples_per_s``            samples/s  higher     measured  median over steps
``throughput.tokens_per_s``             tokens/s   higher     measured  median over steps
``memory.host_peak_rss_bytes``          B          lower      measured  one value per run
``memory.device_peak_allocated_bytes``  B          lower      counter   one value per run
``flops_per_step``                      FLOP       lower      counter   one value per run
``parameters``                          count      lower      counter   one value per run
``trace.kernels_per_step``              count      lower      counter   median over traced steps
``trace.ops_per_step``                  count      lower      counter   median over traced steps
``trace.syncs_per_step``                count      lower      counter   the trace's device figure
======================================  =========  =========  ========  ========================

``<phase>`` is one of :data:`perfkit.results.ALL_PHASES`. A metric is absent from a run
that did not measure it (no device time on CPU, no trace, FLOPs not counted). Trace
counts (see :func:`trace_counts`): kernels per step is the trace's device figure (the
median over steps), ops per step the median over traced steps of each step's cpu_op
count, host syncs per step the trace's ``device.syncs_per_step`` (host-device
synchronisations per step; absent without device activity).

:func:`validate_metric_patterns` rejects a name or pattern that matches no metric here
(``--gate``, ``--metric-threshold``, the gate's ``metrics`` and ``thresholds``), so a typo
cannot silently gate nothing.

* **measured** metrics carry machine noise. Each one keeps its per-step samples, and the
  run's value is their median (robust to GC pauses and page faults). Throughput is a
  per-step figure too (samples of the step ÷ the longer of its host and device spans,
  :attr:`~perfkit.results.StepSample.sustained_ms`), so its run value is the
  median step rate, not the total-based figure ``perfkit profile`` prints (which a few
  slow steps drag down). Host peak RSS has no per-step samples: one value per run.
* **counter** metrics are deterministic for a given program: a gate compares them
  exactly (or with a tight tolerance), without statistics.
* ``per_step``: the figure counts the work of one step, so it changes with the batch
  size; runs with different samples (or tokens) per step are incomparable on it, while
  throughput (per sample) stays comparable.
* ``env_bound``: the figure depends on the machine and torch build; runs from different
  environments are incomparable on it. Only the parameter count is not.

This module never imports torch.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from perfkit.errors import InputError
from perfkit.results import ALL_PHASES, RunResult, StepSample

Direction = Literal["lower", "higher"]
Kind = Literal["measured", "counter"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is: its stable name, how to print it and how to compare it."""

    name: str
    title: str
    unit: str
    direction: Direction
    kind: Kind
    per_step: bool
    env_bound: bool = True

    @property
    def is_time(self) -> bool:
        """True for a duration in milliseconds (printed in the table's one time unit)."""
        return self.unit == "ms"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSpec:
        return cls(
            name=str(data["name"]),
            title=str(data["title"]),
            unit=str(data["unit"]),
            direction=data["direction"],
            kind=data["kind"],
            per_step=bool(data["per_step"]),
            env_bound=bool(data.get("env_bound", True)),
        )


@dataclass(frozen=True)
class MetricValue:
    """One metric of one run: the run's figure and the per-step samples behind it.

    ``value`` is the median of ``samples`` for measured metrics that have them, the run's
    single figure otherwise (host RSS, counters). ``samples`` is empty for per-run
    figures.
    """

    spec: MetricSpec
    value: float
    samples: tuple[float, ...] = ()


def _spec(name: str, title: str, unit: str, direction: Direction, kind: Kind, per_step: bool, env_bound: bool = True) -> MetricSpec:
    return MetricSpec(name, title, unit, direction, kind, per_step, env_bound)


STEP = _spec("step_ms", "step", "ms", "lower", "measured", per_step=True)
STEP_DEVICE = _spec("step_device_ms", "step (device)", "ms", "lower", "measured", per_step=True)
SAMPLES_PER_S = _spec("throughput.samples_per_s", "samples/s", "samples/s", "higher", "measured", per_step=False)
TOKENS_PER_S = _spec("throughput.tokens_per_s", "tokens/s", "tokens/s", "higher", "measured", per_step=False)
HOST_RSS = _spec("memory.host_peak_rss_bytes", "host peak RSS", "B", "lower", "measured", per_step=False)
DEVICE_ALLOCATED = _spec("memory.device_peak_allocated_bytes", "device peak mem", "B", "lower", "counter", per_step=False)
FLOPS = _spec("flops_per_step", "FLOPs/step", "FLOP", "lower", "counter", per_step=True)
PARAMETERS = _spec("parameters", "parameters", "count", "lower", "counter", per_step=False, env_bound=False)
KERNELS = _spec("trace.kernels_per_step", "kernels/step", "count", "lower", "counter", per_step=True)
OPS = _spec("trace.ops_per_step", "CPU ops/step", "count", "lower", "counter", per_step=True)
SYNCS = _spec("trace.syncs_per_step", "host syncs/step", "count", "lower", "counter", per_step=True)


def phase_spec(phase: str, device: bool) -> MetricSpec:
    """The spec of ``phase.<phase>.host_ms`` or ``phase.<phase>.device_ms``."""
    where = "device" if device else "host"
    return _spec(
        f"phase.{phase}.{where}_ms",
        f"{phase} ({where})" if device else phase,
        "ms",
        "lower",
        "measured",
        per_step=True,
    )


def catalogue() -> tuple[MetricSpec, ...]:
    """Every metric a comparison knows, in display order."""
    out = [STEP, STEP_DEVICE]
    for phase in ALL_PHASES:
        out.append(phase_spec(phase, device=False))
        out.append(phase_spec(phase, device=True))
    out += [SAMPLES_PER_S, TOKENS_PER_S, HOST_RSS, DEVICE_ALLOCATED, FLOPS, PARAMETERS, KERNELS, OPS, SYNCS]
    return tuple(out)


CATALOGUE: tuple[MetricSpec, ...] = catalogue()
SPECS: Mapping[str, MetricSpec] = {spec.name: spec for spec in CATALOGUE}
METRIC_NAMES: tuple[str, ...] = tuple(SPECS)

#: Patterns offered as suggestions (besides every name) when a pattern has wildcards.
_PATTERN_HINTS: tuple[str, ...] = (
    "phase.*",
    "phase.*.host_ms",
    "phase.*.device_ms",
    "throughput.*",
    "memory.*",
    "trace.*",
    "step*",
)


def _names_text() -> str:
    """Every valid name, with the phase names folded into two templates."""
    plain = [name for name in METRIC_NAMES if not name.startswith("phase.")]
    phases = "|".join(ALL_PHASES)
    return ", ".join([*plain[:2], "phase.<phase>.host_ms", "phase.<phase>.device_ms", *plain[2:]]) + (
        f" (<phase>: {phases}; shell patterns such as phase.* match several)"
    )


def validate_metric_patterns(patterns: Sequence[str], what: str) -> None:
    """Raise :class:`~perfkit.errors.InputError` if a name or pattern matches no metric.

    Each of ``patterns`` is a metric name or a shell-style pattern (``fnmatch``, case
    sensitive, as :class:`~perfkit.compare.ComparePolicy` matches them) and must match at
    least one name of :data:`METRIC_NAMES` (which lists ``phase.<phase>.host_ms`` and
    ``.device_ms`` for every phase). ``what`` names where the patterns came from (an
    option such as ``"--gate"`` or a config key such as ``"gate.metrics"``) and starts the
    one-line message, followed by the pattern, a did-you-mean suggestion when one is
    close (difflib) and the list of valid names.
    """
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(name, pattern) for name in METRIC_NAMES):
            continue
        choices = list(METRIC_NAMES)
        if any(c in pattern for c in "*?["):
            choices += _PATTERN_HINTS
        lowered = {choice.lower(): choice for choice in choices}
        close = difflib.get_close_matches(pattern.strip().lower(), list(lowered), n=1, cutoff=0.6)
        hint = f"; did you mean {lowered[close[0]]!r}?" if close else "."
        raise InputError(f"{what}: {pattern!r} matches no metric{hint} Valid names: {_names_text()}")


def _measured(spec: MetricSpec, samples: Sequence[float]) -> MetricValue | None:
    values = tuple(float(v) for v in samples if math.isfinite(v))
    if not values:
        return None
    return MetricValue(spec, float(np.median(values)), values)


def _scalar(spec: MetricSpec, value: float | int | None) -> MetricValue | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return MetricValue(spec, float(value))


def _step_rates(steps: Sequence[StepSample], tokens: bool) -> list[float]:
    out: list[float] = []
    for s in steps:
        count = s.tokens if tokens else s.samples
        if count is not None and s.sustained_ms > 0:
            out.append(count / (s.sustained_ms / 1e3))
    return out


def trace_counts(trace: Mapping[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    """``(kernels, CPU ops, host syncs)`` per step from a stored trace analysis dict.

    Reads :meth:`perfkit.trace.model.TraceAnalysis.to_dict` output without importing the
    trace package: kernels per step is the device metrics' ``kernels_per_step`` (the
    median over steps), else the median of the steps' ``kernels`` (``None`` without
    device activity); ops per step is the median of the steps' ``ops`` (cpu_op events
    that started in the step); host syncs per step is the device metrics'
    ``syncs_per_step`` (``None`` without device activity).
    """
    if not trace:
        return None, None, None
    steps = trace.get("steps") or []
    device = trace.get("device")
    kernels_per_step: float | None = None
    if isinstance(device, Mapping) and device.get("kernels_per_step") is not None:
        kernels_per_step = float(device["kernels_per_step"])
    else:
        kernels = [s.get("kernels") for s in steps if isinstance(s, Mapping)]
        kernel_counts = [float(k) for k in kernels if k is not None]
        kernels_per_step = float(np.median(kernel_counts)) if kernel_counts else None
    op_counts = [float(s["ops"]) for s in steps if isinstance(s, Mapping) and s.get("ops") is not None]
    ops_per_step = float(np.median(op_counts)) if op_counts else None
    syncs = device.get("syncs_per_step") if isinstance(device, Mapping) else None
    return kernels_per_step, ops_per_step, None if syncs is None else float(syncs)


def extract_metrics(run: RunResult) -> dict[str, MetricValue]:
    """Every metric the run measured, keyed by stable name, in display order.

    Measured metrics use the run's headline steps (:attr:`RunResult.measured_steps`:
    warm-up excluded, untraced steps preferred), as every perfkit report does.
    """
    steps = run.measured_steps
    found: list[MetricValue | None] = [
        _measured(STEP, [s.step_host_ms for s in steps]),
        _measured(STEP_DEVICE, [s.step_device_ms for s in steps if s.step_device_ms is not None]),
    ]
    for phase in ALL_PHASES:
        found.append(_measured(phase_spec(phase, False), [s.host_ms[phase] for s in steps if phase in s.host_ms]))
        found.append(
            _measured(
                phase_spec(phase, True),
                [s.device_ms[phase] for s in steps if s.device_ms is not None and phase in s.device_ms],
            )
        )
    kernels, ops, syncs = trace_counts(run.trace)
    found += [
        _measured(SAMPLES_PER_S, _step_rates(steps, tokens=False)),
        _measured(TOKENS_PER_S, _step_rates(steps, tokens=True)),
        _scalar(HOST_RSS, run.memory.host_peak_rss_bytes),
        _scalar(DEVICE_ALLOCATED, run.memory.device_peak_allocated_bytes),
        _scalar(FLOPS, run.counters.flops_per_step),
        _scalar(PARAMETERS, run.counters.parameters),
        _scalar(KERNELS, kernels),
        _scalar(OPS, ops),
        _scalar(SYNCS, syncs),
    ]
    return {m.spec.name: m for m in found if m is not None}


__all__ = [
    "CATALOGUE",
    "METRIC_NAMES",
    "SPECS",
    "Direction",
    "Kind",
    "MetricSpec",
    "MetricValue",
    "extract_metrics",
    "phase_spec",
    "trace_counts",
    "validate_metric_patterns",
]
