"""extract_metrics: names, run values, samples, absent metrics."""

from __future__ import annotations

import pytest
from compare_synthetic import make_run

from perfkit.compare.metrics import (
    CATALOGUE,
    METRIC_NAMES,
    SPECS,
    extract_metrics,
    trace_counts,
    validate_metric_patterns,
)
from perfkit.errors import InputError


def test_names_are_stable_and_documented() -> None:
    for name in (
        "step_ms",
        "step_device_ms",
        "phase.forward.host_ms",
        "phase.forward.device_ms",
        "throughput.samples_per_s",
        "memory.device_peak_allocated_bytes",
        "memory.host_peak_rss_bytes",
        "flops_per_step",
        "trace.kernels_per_step",
        "trace.ops_per_step",
        "trace.syncs_per_step",
        "parameters",
    ):
        assert name in METRIC_NAMES
    assert len(set(METRIC_NAMES)) == len(CATALOGUE)


def test_cpu_run_has_host_metrics_only() -> None:
    metrics = extract_metrics(make_run([10.0, 12.0, 11.0]))
    step = metrics["step_ms"]
    assert step.value == pytest.approx(11.0)
    assert step.samples == (10.0, 12.0, 11.0)  # the warm-up step (30 ms) is excluded
    assert "step_device_ms" not in metrics
    assert "phase.forward.device_ms" not in metrics
    assert metrics["phase.forward.host_ms"].value == pytest.approx(11.0 * 0.38)
    assert "trace.kernels_per_step" not in metrics
    assert metrics["flops_per_step"].value == 1_773_312
    assert metrics["flops_per_step"].samples == ()
    assert metrics["memory.host_peak_rss_bytes"].spec.kind == "measured"
    assert metrics["parameters"].spec.env_bound is False


def test_throughput_is_median_per_step_rate() -> None:
    metrics = extract_metrics(make_run([10.0, 20.0, 40.0], batch=8))
    rate = metrics["throughput.samples_per_s"]
    assert rate.samples == pytest.approx((800.0, 400.0, 200.0))
    assert rate.value == pytest.approx(400.0)
    assert rate.spec.direction == "higher"


def test_device_metrics_when_measured() -> None:
    metrics = extract_metrics(make_run([10.0, 10.0], device=True, device_allocated=2**30))
    assert metrics["step_device_ms"].value == pytest.approx(9.0)
    assert metrics["phase.backward.device_ms"].value == pytest.approx(10.0 * 0.47 * 0.9)
    assert metrics["memory.device_peak_allocated_bytes"].spec.kind == "counter"


def test_absent_counters_are_left_out() -> None:
    metrics = extract_metrics(make_run([10.0], flops=None, rss=None))
    assert "flops_per_step" not in metrics
    assert "memory.host_peak_rss_bytes" not in metrics


def test_trace_counts() -> None:
    trace = {
        "steps": [{"kernels": 40, "ops": 100}, {"kernels": 42, "ops": 102}, {"kernels": 40, "ops": 100}],
        "event_counts": {"cpu_op": 310, "kernel": 122},
    }
    assert trace_counts(trace) == (40.0, 100.0, None)
    assert trace_counts(None) == (None, None, None)
    assert trace_counts({"steps": [{"kernels": None}], "event_counts": {}}) == (None, None, None)
    with_device = {**trace, "device": {"kernels_per_step": 41.0, "syncs_per_step": 2.0}}
    assert trace_counts(with_device) == (41.0, 100.0, 2.0)
    metrics = extract_metrics(make_run([10.0], trace=trace))
    assert metrics["trace.kernels_per_step"].value == 40.0
    assert metrics["trace.ops_per_step"].value == 100.0
    assert "trace.syncs_per_step" not in metrics  # no device activity: not measured
    assert extract_metrics(make_run([10.0], trace=with_device))["trace.syncs_per_step"].value == 2.0
    assert SPECS["trace.ops_per_step"].per_step and SPECS["trace.syncs_per_step"].kind == "counter"


def test_validate_metric_patterns_accepts_names_and_matching_patterns() -> None:
    validate_metric_patterns(
        ["step_ms", "phase.*", "phase.forward.device_ms", "phase.*.host_ms", "trace.*", "throughput.*", "*"], "--gate"
    )
    validate_metric_patterns([], "gate.metrics")
    assert "trace.syncs_per_step" in METRIC_NAMES


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        ("step_mss", "did you mean 'step_ms'?"),
        ("STEP_MS", "did you mean 'step_ms'?"),  # case-sensitive, as the policy matches
        ("phase.forwrd.host_ms", "did you mean 'phase.forward.host_ms'?"),
        ("phase.*.hots_ms", "did you mean 'phase.*.host_ms'?"),
        ("trace.syncs", "did you mean 'trace.syncs_per_step'?"),
        ("latency", "matches no metric. Valid names:"),
    ],
)
def test_validate_metric_patterns_rejects_unknown_names(pattern: str, hint: str) -> None:
    with pytest.raises(InputError) as info:
        validate_metric_patterns(["step_ms", pattern], "gate.metrics")
    message = str(info.value)
    assert message.startswith(f"gate.metrics: {pattern!r} matches no metric")
    assert hint in message
    assert "phase.<phase>.host_ms" in message and "trace.syncs_per_step" in message and "forward" in message
