"""Statistics derived from raw samples: which steps count, shares, throughput, MFU."""

from __future__ import annotations

import pytest

from perfkit.stats import describe
from perfkit.summary import summarize
from tests.factories import run, steady_run, step


def test_describe_uses_all_samples_and_none_for_empty() -> None:
    d = describe([1.0, 2.0, 3.0, 4.0, 100.0])
    assert d is not None
    assert d.median == 3.0 and d.n == 5 and d.max == 100.0
    assert d.iqr == pytest.approx(2.0)
    assert d.relative_iqr == pytest.approx(2.0 / 3.0)
    assert describe([]) is None


def test_warmup_is_excluded_and_shares_add_up() -> None:
    summary = summarize(steady_run())
    assert summary.measured_steps == 10 and summary.warmup_steps == 1
    assert summary.step is not None and summary.step.max < 20  # the 100 ms warm-up step is excluded
    assert sum(p.share for p in summary.phases) == pytest.approx(1.0)
    assert [p.phase for p in summary.phases] == ["data", "h2d", "forward", "backward", "optimizer", "other"]


def test_throughput_is_total_samples_over_total_time() -> None:
    steps = [step(1, {"forward": 10.0}, samples=10), step(2, {"forward": 30.0}, samples=10, tokens=None)]
    summary = summarize(run(steps))
    assert summary.samples_per_s == pytest.approx(20 / 0.040)
    assert summary.tokens_per_s is None
    tokens = [step(1, {"forward": 10.0}, samples=2, tokens=256)]
    assert summarize(run(tokens)).tokens_per_s == pytest.approx(256 / 0.010)


def test_throughput_counts_the_gpu_time_a_host_ahead_of_it_did_not_wait_for() -> None:
    # GPU-bound, no --sync: the host queued each step in 10 ms, the GPU needed 25 ms.
    gpu_bound = [step(i, {"forward": 10.0}, device={"forward": 25.0}, samples=32) for i in range(1, 5)]
    summary = summarize(run(gpu_bound, flops=10**9, peak_flops=1e12))
    assert summary.samples_per_s == pytest.approx(4 * 32 / 0.100)
    assert summary.achieved_flops_per_s == pytest.approx(4e9 / 0.100)
    assert summary.step_throughput is not None and summary.step_throughput.median == pytest.approx(32 / 0.025)
    # Host-bound: the GPU waited for the host, whose 30 ms per step is the rate.
    host_bound = [step(i, {"forward": 30.0}, device={"forward": 12.0}, samples=32) for i in range(1, 5)]
    assert summarize(run(host_bound)).samples_per_s == pytest.approx(4 * 32 / 0.120)


def test_mfu_counts_a_short_last_batch_as_part_of_a_step() -> None:
    steps = [step(1, {"forward": 10.0}, samples=32), step(2, {"forward": 10.0}, samples=32), step(3, {"forward": 10.0}, samples=16)]
    summary = summarize(run(steps, flops=10**9, peak_flops=1e12))
    assert summary.achieved_flops_per_s == pytest.approx(2.5e9 / 0.030)


def test_mfu_only_with_a_known_peak() -> None:
    steps = [step(i, {"forward": 10.0}) for i in range(1, 4)]
    assert summarize(run(steps, flops=10**9)).mfu is None
    summary = summarize(run(steps, flops=10**9, peak_flops=1e12))
    assert summary.achieved_flops_per_s == pytest.approx(1e11)
    assert summary.mfu == pytest.approx(0.1)
    assert summarize(run(steps, flops=None, peak_flops=1e12)).mfu is None


def test_traced_steps_are_kept_apart() -> None:
    steps = [step(0, {"forward": 99.0}, warmup=True)]
    steps += [step(i, {"forward": 10.0}) for i in range(1, 6)]
    steps += [step(i, {"forward": 15.0}, traced=True) for i in range(6, 9)]
    summary = summarize(run(steps))
    assert summary.measured_steps == 5 and summary.traced_steps == 3
    assert summary.step is not None and summary.step.median == pytest.approx(10.0)
    assert summary.tracing_overhead == pytest.approx(1.5)
    assert not summary.headline_from_traced
    only_traced = summarize(run([step(1, {"forward": 15.0}, traced=True)]))
    assert only_traced.headline_from_traced and only_traced.tracing_overhead is None


def test_device_times_summarised_when_present() -> None:
    steps = [step(i, {"forward": 1.0}, device={"forward": 8.0, "backward": 2.0}) for i in range(1, 4)]
    summary = summarize(run(steps))
    assert summary.device_step is not None and summary.device_step.median == pytest.approx(10.0)
    forward = summary.phase("forward")
    assert forward is not None and forward.device is not None
    assert forward.device.median == pytest.approx(8.0)
    assert forward.device_share == pytest.approx(0.8)
    assert summarize(steady_run()).device_step is None


def test_noise_levels() -> None:
    calm = summarize(steady_run())
    assert calm.noise_level == "ok"
    noisy = summarize(run([step(i, {"forward": v}) for i, v in enumerate([10.0, 10.0, 14.0, 18.0, 18.0], 1)]))
    assert noisy.noise_level == "severe"


def test_empty_run_summarises_without_inventing_numbers() -> None:
    summary = summarize(run([]))
    assert summary.step is None and summary.samples_per_s is None and summary.phases == ()
