"""The instrumented loop: ground truth per phase, phases add up, warm-up, accumulation,
interruption, loss and gradient-norm recording."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from perfkit.config import load_config
from perfkit.results import ALL_PHASES, PHASES
from perfkit.runtime.clock import PerfCounterClock
from perfkit.runtime.runner import run_experiment
from perfkit.summary import summarize

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
# Import the module under the same top-level name perfkit resolves "phase_costs:…" to,
# so the test and the loop share one FakeClock.
sys.path.insert(0, str(HELPERS))
phase_costs = importlib.import_module("phase_costs")
sys.path.remove(str(HELPERS))


def costly_config(tmp_path: Path, write: Any, mode: str, item_ms: float, fwd: float, bwd: float, **extra: Any) -> Path:
    """A config next to tests/helpers so that phase_costs:… resolves from its folder."""
    config = {
        "name": f"costs-{mode}",
        "device": "cpu",
        "model": {"name": "phase_costs:CostlyModel", "params": {"forward_ms": fwd, "backward_ms": bwd, "mode": mode}},
        "data": {"name": "phase_costs:CostlyData", "params": {"item_ms": item_ms, "mode": mode}, "batch_size": 2, "shuffle": False},
        "optimizer": {"name": "sgd", "lr": 0.01},
        "loop": {"steps": 4, "warmup_steps": 1},
    }
    for key, value in extra.items():
        section, _, field = key.partition("__")
        config.setdefault(section, {})[field] = value
    path = HELPERS / f"_{tmp_path.name}.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def config_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    created: list[Path] = []

    def make(**kwargs: Any) -> Path:
        path = costly_config(tmp_path, None, **kwargs)
        created.append(path)
        return path

    yield make
    for path in created:
        path.unlink(missing_ok=True)


def test_fake_clock_ground_truth_is_exact(config_file) -> None:  # type: ignore[no-untyped-def]
    path = config_file(mode="fake", item_ms=3.0, fwd=10.0, bwd=20.0)
    result = run_experiment(load_config(path), clock=phase_costs.CLOCK)
    assert len(result.steps) == 5 and result.steps[0].warmup
    for step in result.steps:
        assert step.host_ms["data"] == pytest.approx(6.0)  # 2 items × 3 ms
        assert step.host_ms["h2d"] == pytest.approx(0.0, abs=1e-9)
        assert step.host_ms["forward"] == pytest.approx(10.0)
        assert step.host_ms["backward"] == pytest.approx(20.0)
        assert step.host_ms["optimizer"] == pytest.approx(0.0, abs=1e-9)
        assert step.host_ms["other"] == pytest.approx(0.0, abs=1e-9)
        assert step.step_host_ms == pytest.approx(36.0)
        assert step.device_ms is None and step.step_device_ms is None
    summary = summarize(result)
    assert summary.measured_steps == 4 and summary.warmup_steps == 1
    assert summary.step is not None and summary.step.median == pytest.approx(36.0)
    assert summary.samples_per_s == pytest.approx(2 / 0.036)
    shares = {p.phase: p.share for p in summary.phases}
    assert shares["backward"] == pytest.approx(20 / 36)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_grad_accum_counts_every_micro_batch(config_file) -> None:  # type: ignore[no-untyped-def]
    path = config_file(mode="fake", item_ms=1.0, fwd=2.0, bwd=3.0, loop__grad_accum=3)
    result = run_experiment(load_config(path), clock=phase_costs.CLOCK)
    step = result.steps[-1]
    assert step.samples == 6
    assert step.host_ms["data"] == pytest.approx(6.0)
    assert step.host_ms["forward"] == pytest.approx(6.0)
    assert step.host_ms["backward"] == pytest.approx(9.0)
    assert result.counters.samples_per_step == 6


@pytest.mark.parametrize("extra", [[], ["loop.grad_clip=1.0"], ["loop.track_grad_norm=false"]])
def test_the_event_pool_covers_every_mark_a_step_places(config_file, monkeypatch: pytest.MonkeyPatch, extra: list[str]) -> None:  # type: ignore[no-untyped-def]
    """CUDA events are pre-created per step (marks_per_step); a mark beyond the pool would
    create its event inside a timed phase. Counted here with a fake device timer."""
    from perfkit.runtime import session
    from perfkit.runtime.clock import NullDeviceTimer
    from perfkit.runtime.loop import marks_per_step

    marks: list[int] = []

    class CountingTimer(NullDeviceTimer):
        def mark(self) -> int:
            marks.append(1)
            return -1

    monkeypatch.setattr(session, "NullDeviceTimer", CountingTimer)
    path = config_file(mode="fake", item_ms=1.0, fwd=1.0, bwd=1.0, loop__grad_accum=3)
    result = run_experiment(load_config(path, extra), clock=phase_costs.CLOCK)
    per_step = len(marks) / len(result.steps)
    assert per_step <= marks_per_step(3)
    if not extra:
        assert per_step == marks_per_step(3)  # the default loop places every one of them


def test_real_clock_ground_truth_within_ten_percent(config_file) -> None:  # type: ignore[no-untyped-def]
    # Known costs by sleeping: one 40 ms item of data, 60 ms forward, 50 ms backward (one
    # sleep per phase, so scheduler overshoot is paid once per phase). The costs are large
    # next to the fixed work of a phase (the autograd engine's thread hand-off costs a few
    # ms on a loaded 2-core box), so the 10% tolerance checks attribution, not the load.
    path = config_file(mode="sleep", item_ms=40.0, fwd=60.0, bwd=50.0)
    summary = summarize(run_experiment(load_config(path, ["data.batch_size=1", "loop.steps=7"]), clock=PerfCounterClock()))
    expected = {"data": 40.0, "forward": 60.0, "backward": 50.0}
    for phase, ms in expected.items():
        measured = summary.phase(phase)
        assert measured is not None
        assert measured.host.median == pytest.approx(ms, rel=0.10), phase


def test_phases_add_up_to_the_step_on_a_real_model(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    result = run_experiment(load_config(write_yaml(tiny_config)))
    for step in result.steps:
        assert sum(step.host_ms[p] for p in ALL_PHASES) == pytest.approx(step.step_host_ms, rel=1e-9)
        assert all(step.host_ms[p] >= 0 for p in PHASES)
        assert step.host_ms["other"] >= -1e-9


def test_monitoring_is_timed_as_other_not_optimizer(config_file, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # The gradient norm is perfkit's monitoring: make it cost 5 fake ms and check that the
    # cost lands in `other`, never in the optimizer phase.
    from perfkit.runtime import loop

    real_norm = loop._total_norm

    def costly_norm(grads):  # type: ignore[no-untyped-def]
        phase_costs.CLOCK.advance(0.005)
        return real_norm(grads)

    monkeypatch.setattr(loop, "_total_norm", costly_norm)
    path = config_file(mode="fake", item_ms=1.0, fwd=1.0, bwd=1.0)
    result = run_experiment(load_config(path), clock=phase_costs.CLOCK)
    for s in result.steps:
        assert s.grad_norm is not None
        assert s.host_ms["optimizer"] == pytest.approx(0.0, abs=1e-9)
        assert s.host_ms["other"] == pytest.approx(5.0)


def test_bookkeeping_is_small_without_monitoring(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    tiny_config["loop"].update(track_grad_norm=False, steps=5)
    other = summarize(run_experiment(load_config(write_yaml(tiny_config)))).phase("other")
    assert other is not None and other.share < 0.05


def test_loss_and_grad_norm_are_recorded(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert all(s.loss is not None and math.isfinite(s.loss) for s in result.steps)
    assert all(s.grad_norm is not None and s.grad_norm > 0 for s in result.steps)
    tiny_config["loop"]["track_grad_norm"] = False
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert all(s.grad_norm is None for s in result.steps)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc/self/clear_refs")
def test_host_peak_covers_the_measured_steps_not_the_process(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    from perfkit.runtime.host_memory import lifetime_peak_rss_bytes

    earlier = bytearray(300 * 2**20)  # what an earlier run in this process held
    earlier[::4096] = b"x" * len(earlier[::4096])
    del earlier
    lifetime_before = lifetime_peak_rss_bytes()  # the reset lowers ru_maxrss too, so read it now
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert result.memory.host_peak_rss_scope == "measured"
    assert result.memory.host_peak_rss_bytes is not None
    assert result.memory.host_peak_rss_bytes < lifetime_before - 200 * 2**20


def test_grad_clip_reports_the_pre_clip_norm(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    tiny_config["loop"]["grad_clip"] = 1e-6
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert all(s.grad_norm is not None and s.grad_norm > 1e-6 for s in result.steps)


def test_nan_loss_is_warned(config_file) -> None:  # type: ignore[no-untyped-def]
    path = config_file(mode="fake", item_ms=0.0, fwd=0.0, bwd=0.0)
    loaded = load_config(path, ["model.params.loss_value=.nan"])
    result = run_experiment(loaded, clock=phase_costs.CLOCK)
    codes = [w.code for w in result.warnings]
    assert "loss-non-finite" in codes
    assert result.steps[-1].loss is not None and math.isnan(result.steps[-1].loss)


def test_interrupt_keeps_finished_steps(config_file) -> None:  # type: ignore[no-untyped-def]
    # Each step reads 2 items; the 7th item raises KeyboardInterrupt → 3 steps finished.
    path = config_file(mode="fake", item_ms=1.0, fwd=1.0, bwd=1.0)
    loaded = load_config(path, ["data.params.interrupt_at=6", "data.params.n=64"])
    result = run_experiment(loaded, clock=phase_costs.CLOCK)
    assert result.partial
    assert [s.index for s in result.steps] == [0, 1, 2]
    assert any("interrupted after 3 of 5 steps" in n for n in result.measurement.notes)
    assert result.counters.flops_per_step is None  # not counted after an interruption


def test_interrupt_in_warmup_blames_no_measured_step_for_compiling(config_file) -> None:  # type: ignore[no-untyped-def]
    path = config_file(mode="fake", item_ms=1.0, fwd=1.0, bwd=1.0)
    overrides = ["data.params.interrupt_at=4", "loop.warmup_steps=3", "toggles.compile=true", "toggles.compile_backend=eager"]
    result = run_experiment(load_config(path, overrides), clock=phase_costs.CLOCK)
    assert result.partial and all(s.warmup for s in result.steps)
    assert "compile-in-measured-steps" not in [w.code for w in result.warnings]


def test_an_optimizer_failure_blames_the_optimizer(config_file) -> None:  # type: ignore[no-untyped-def]
    from perfkit.errors import BuildError

    path = config_file(mode="fake", item_ms=0.0, fwd=0.0, bwd=0.0)
    overrides = ["model.name=phase_costs:SparseEmbedding", "model.params={}", "optimizer.name=adam", "loop.track_grad_norm=false"]
    with pytest.raises(BuildError, match=r"optimizer: the optimizer phase failed at step 0 \(RuntimeError: .*sparse"):
        run_experiment(load_config(path, overrides), clock=phase_costs.CLOCK)


def test_epochs_roll_over(config_file) -> None:  # type: ignore[no-untyped-def]
    # 4 samples per epoch, 2 per step: the loop must start new epochs transparently.
    path = config_file(mode="fake", item_ms=1.0, fwd=1.0, bwd=1.0)
    result = run_experiment(load_config(path, ["data.params.n=4", "loop.steps=6"]), clock=phase_costs.CLOCK)
    assert len(result.steps) == 7
    assert all(s.samples == 2 for s in result.steps)


def test_model_data_mismatch_is_a_clear_error(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    from perfkit.errors import BuildError

    tiny_config["model"] = {"name": "mlp", "params": {"input_dim": 7}}
    with pytest.raises(BuildError, match=r"model\.params: the first training step failed .*check that model\.params fit data\.params"):
        run_experiment(load_config(write_yaml(tiny_config)))


@pytest.mark.parametrize("workers", [0, 2])
def test_dataset_errors_blame_the_data(config_file, workers: int) -> None:  # type: ignore[no-untyped-def]
    from perfkit.errors import BuildError, RunFailed

    path = config_file(mode="fake", item_ms=0.0, fwd=0.0, bwd=0.0)
    overrides = ["data.name=phase_costs:FailingData", "data.params={bad_index: 5}", f"data.num_workers={workers}"]
    with pytest.raises(RunFailed, match=r"data\.name: loading a batch failed at step 2 \(ValueError: corrupt JPEG at index 5\)") as caught:
        run_experiment(load_config(path, overrides), clock=phase_costs.CLOCK)
    # The two steps finished before the failure are kept, marked partial, with the reason.
    assert isinstance(caught.value.error, BuildError)
    partial = caught.value.partial
    assert partial.partial and [s.index for s in partial.steps] == [0, 1]
    assert [w.code for w in partial.warnings if w.code == "stopped-by-error"] == ["stopped-by-error"]


def test_model_errors_after_the_first_step(config_file) -> None:  # type: ignore[no-untyped-def]
    from perfkit.errors import BuildError, RunFailed

    path = config_file(mode="fake", item_ms=0.0, fwd=0.0, bwd=0.0)
    overrides = ["model.name=phase_costs:FailingModel", "model.params={ok_calls: 2}"]
    with pytest.raises(RunFailed, match=r"model\.name: training failed at step 2 \(RuntimeError: shape drift in user code\)") as caught:
        run_experiment(load_config(path, overrides), clock=phase_costs.CLOCK)
    assert isinstance(caught.value.error, BuildError)
    assert [s.index for s in caught.value.partial.steps] == [0, 1]


def test_flops_are_counted_on_a_full_batch(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    # 36 samples, batch 8, drop_last false: every 5th step has 4 samples. FLOPs per step
    # must not depend on whether the last step was a short one.
    tiny_config["data"].update(batch_size=8, drop_last=False, shuffle=False)
    tiny_config["data"]["params"]["num_samples"] = 36
    short_last = run_experiment(load_config(write_yaml(tiny_config), ["loop.steps=4"]))
    assert short_last.steps[-1].samples == 4
    tiny_config["data"]["drop_last"] = True
    full = run_experiment(load_config(write_yaml(tiny_config), ["loop.steps=4"]))
    assert short_last.counters.flops_per_step == full.counters.flops_per_step
    assert short_last.counters.flops_per_step is not None and short_last.counters.flops_per_step > 0


def test_compile_without_warmup_is_warned(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    tiny_config["toggles"] = {"compile": True, "compile_backend": "eager"}
    tiny_config["loop"] = {"steps": 2, "warmup_steps": 0}
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert "compile-warmup" in [w.code for w in result.warnings]


def test_each_run_compiles_afresh_in_its_own_warmup(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    """A second compiled run in the same process (compare, gate) must not reuse the first
    run's graphs: its compilation belongs in its own warm-up, like in a fresh process."""
    tiny_config["toggles"] = {"compile": True, "compile_backend": "eager"}
    tiny_config["loop"] = {"steps": 2, "warmup_steps": 2}
    run_experiment(load_config(write_yaml(tiny_config)))
    tiny_config["loop"] = {"steps": 2, "warmup_steps": 0}
    second = run_experiment(load_config(write_yaml(tiny_config)))
    assert "compile-in-measured-steps" in [w.code for w in second.warnings]


def test_cycles_left_by_an_earlier_run_are_collected_first(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    import gc
    import weakref

    class Leftover:
        pass

    gc.disable()  # only the run itself may collect the cycle
    try:
        cycle = Leftover()
        cycle.self = cycle  # type: ignore[attr-defined]
        alive = weakref.ref(cycle)
        del cycle
        run_experiment(load_config(write_yaml(tiny_config)))
        assert alive() is None
    finally:
        gc.enable()


def test_channels_last_refuses_3d_models(config_file) -> None:  # type: ignore[no-untyped-def]
    from perfkit.errors import BuildError

    path = config_file(mode="fake", item_ms=0.0, fwd=0.0, bwd=0.0)
    with pytest.raises(BuildError, match=r"toggles\.channels_last: applies to 4-D \(NCHW\) convolution models; this model has 5-D"):
        run_experiment(load_config(path, ["model.name=phase_costs:Volumetric", "model.params={}", "toggles.channels_last=true"]))


def test_unknown_compile_backend(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    from perfkit.errors import BuildError

    tiny_config["toggles"] = {"compile": True, "compile_backend": "eagre"}
    with pytest.raises(BuildError, match=r"toggles\.compile_backend: unknown backend 'eagre' \(did you mean 'eager'\?\)"):
        run_experiment(load_config(write_yaml(tiny_config)))


def test_torchs_worker_count_warning_is_left_to_perfkits_advice(tiny_config, write_yaml, recwarn: pytest.WarningsRecorder) -> None:  # type: ignore[no-untyped-def]
    import os

    tiny_config["data"]["num_workers"] = (os.cpu_count() or 1) + 1
    tiny_config["loop"] = {"steps": 2, "warmup_steps": 0}
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert not [w for w in recwarn if "This DataLoader will create" in str(w.message)]
    from perfkit.report import build_run_report

    assert "workers-oversubscribed" in [a.rule for a in build_run_report(result).advice]
