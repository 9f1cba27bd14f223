"""ProfilerSession on CPU: schedule, atomic trace files, in-process analysis, TensorBoard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.profiler import record_function

from perfkit.config.schema import ProfilerConfig
from perfkit.trace import ProfilerSession, analyze_file, phase_range_name
from perfkit.trace.files import TRACE_NAME_RE


def tiny_loop(session: ProfilerSession, steps: int, stop_after: int | None = None) -> list[bool]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    traced = []
    for i in range(steps):
        traced.append(session.is_traced(i))
        with record_function(phase_range_name("data")):
            x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
        with record_function(phase_range_name("forward")):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        with record_function(phase_range_name("backward")):
            loss.backward()
        with record_function(phase_range_name("optimizer")):
            opt.step()
            opt.zero_grad()
        session.step()
        if stop_after is not None and i == stop_after:
            break
    return traced


def config(tmp_path: Path, **changes: Any) -> ProfilerConfig:
    return ProfilerConfig(
        enabled=True,
        dir=str(tmp_path / "traces"),
        **{"wait": 1, "warmup": 1, "active": 2, **changes},
    )


def test_schedule_file_and_analysis(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with ProfilerSession(
        cfg, "my run", loop_warmup_steps=2, use_cuda=False, worker="w0"
    ) as session:
        traced = tiny_loop(session, 8)
    # skip_first = loop warm-up (steps 0-1), wait (2), warmup (3: overhead present), active (4-5).
    assert traced == [False, False, False, True, True, True, False, False]
    path = session.trace_path
    assert path == tmp_path / "traces" / "my_run" / "w0.pt.trace.json"
    assert TRACE_NAME_RE.match(path.name)
    assert sorted(p.name for p in path.parent.iterdir()) == ["w0.pt.trace.json"]  # no temp left
    json.loads(path.read_text())

    a = session.analysis()
    assert a is not None and session.analysis() is a  # computed once
    assert [s.name for s in a.steps] == ["ProfilerStep#4", "ProfilerStep#5"]
    assert a.source == "in-process" and a.trace_path == str(path)
    assert a.phase_mapping == "perfkit"
    assert set(a.phases) == {"data", "forward", "backward", "optimizer", "other"}
    assert a.device is None
    for s in a.steps:
        assert sum(s.breakdown.values()) == s.duration_ns
        assert s.phases["forward"].cpu_op_ns > 0

    # The in-process events and the written file give the same analysis.
    from_file = analyze_file(path)
    assert [s.breakdown for s in from_file.steps] == [s.breakdown for s in a.steps]
    assert from_file.phases == a.phases
    assert from_file.top_ops_by_cpu == a.top_ops_by_cpu


def test_gzip_and_repeat_write_one_span_file_per_cycle(tmp_path: Path) -> None:
    cfg = config(tmp_path, wait=0, warmup=1, active=1, repeat=2, gzip=True, skip_first=0)
    with ProfilerSession(cfg, "r", loop_warmup_steps=5, use_cuda=False, worker="host_1") as session:
        traced = tiny_loop(session, 6)
    assert traced == [True, True, True, True, False, False]
    paths = session.trace_paths
    assert len(paths) == 2 and all(p.name.endswith(".pt.trace.json.gz") for p in paths)
    assert all(TRACE_NAME_RE.match(p.name).group("span") for p in paths)  # type: ignore[union-attr]
    a = session.analysis()
    assert a is not None and [s.name for s in a.steps] == ["ProfilerStep#1", "ProfilerStep#3"]


def test_leaving_early_saves_the_cycle_in_progress(tmp_path: Path) -> None:
    cfg = config(tmp_path, active=5)
    with ProfilerSession(cfg, "early", loop_warmup_steps=0, use_cuda=False, worker="w") as session:
        tiny_loop(session, 10, stop_after=3)
    assert session.trace_path is not None and session.trace_path.is_file()
    a = session.analysis()
    assert a is not None and len(a.steps) >= 1


def test_nothing_recorded_means_no_analysis(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with ProfilerSession(cfg, "none", loop_warmup_steps=50, use_cuda=False) as session:
        tiny_loop(session, 3)
    assert session.trace_path is None and session.analysis() is None
    assert not (tmp_path / "traces").exists()


def test_tensorboard_plugin_loads_the_trace_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch-tb-profiler's own RunLoader finds the run, the worker and the same steps."""
    cfg = config(tmp_path)
    with ProfilerSession(cfg, "tb", loop_warmup_steps=1, use_cuda=False, worker="w7") as session:
        tiny_loop(session, 6)
    a = session.analysis()
    assert a is not None

    monkeypatch.setenv("TORCH_PROFILER_START_METHOD", "fork")
    pytest.importorskip("torch_tb_profiler")
    from torch_tb_profiler import io as tb_io
    from torch_tb_profiler.profiler.loader import RunLoader

    run = RunLoader("tb", os.fspath(tmp_path / "traces" / "tb"), tb_io.Cache()).load()
    profile = run.get_profile("w7", "default") or next(iter(run.get_profiles()))
    assert profile.worker == "w7"
    rows = profile.overview["steps"]["rows"]
    assert [r[0] for r in rows] == [s.name.removeprefix("ProfilerStep#") for s in a.steps]
    # The plugin's step totals (µs, in its tooltips) equal perfkit's step durations.
    totals = [float(r[2].split("Total: ")[1].split("us")[0]) for r in rows]
    assert totals == pytest.approx([s.duration_ns / 1000 for s in a.steps], abs=0.01)


def test_unreadable_in_process_events_fall_back_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfkit.trace import session as session_module

    def broken(*_: Any, **__: Any) -> None:
        raise AttributeError("'_KinetoEvent' object has no attribute 'activity_type'")

    monkeypatch.setattr(session_module, "store_from_kineto", broken)
    with ProfilerSession(config(tmp_path), "fb", loop_warmup_steps=0, use_cuda=False) as session:
        tiny_loop(session, 5)
    a = session.analysis()
    assert a is not None and [s.name for s in a.steps] == ["ProfilerStep#2", "ProfilerStep#3"]
    assert a.source == str(session.trace_path)
    assert any("could not be read (AttributeError" in n for n in a.notes)


@pytest.mark.filterwarnings("ignore:Profiler won't be using warmup")
def test_memory_baseline_is_sampled_at_the_start_of_every_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wait=0, warmup=0, active=2, repeat=2 runs RECORD, RECORD_AND_SAVE, RECORD,
    RECORD_AND_SAVE: the second cycle starts right after a RECORD_AND_SAVE step and needs a
    fresh baseline (the memory allocated then), not the first cycle's."""
    allocated = iter(range(100, 1000, 100))
    samples: list[int] = []

    def memory_allocated(device: int) -> int:
        samples.append(next(allocated))
        return samples[-1]

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "memory_allocated", memory_allocated)
    cfg = config(tmp_path, wait=0, warmup=0, active=2, repeat=2, skip_first=0, profile_memory=True)
    session = ProfilerSession(cfg, "mem", loop_warmup_steps=0, use_cuda=True, worker="w")

    class FakeProfiler:
        def step(self) -> None:
            pass

    session._prof = FakeProfiler()  # the schedule logic only, no profiler run
    session._sample_memory_baseline(None)  # what __enter__ does at step 0
    baselines = [session._baseline]
    for _ in range(5):
        session.step()
        baselines.append(session._baseline)
    actions = [session._action(i) for i in range(6)]
    assert actions[:5] == ["RECORD", "RECORD_AND_SAVE", "RECORD", "RECORD_AND_SAVE", "NONE"]
    # Sampled when step 0 (cycle 1) and step 2 (cycle 2) begin, and at no other step.
    assert samples == [100, 200]
    assert baselines[:2] == [{0: 100}, {0: 100}] and baselines[2:5] == [{0: 200}] * 3


def test_kineto_start_stop_chatter_is_dropped_and_the_rest_kept(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    from perfkit.trace.session import native_stderr_without_kineto_chatter

    with native_stderr_without_kineto_chatter():
        os.write(2, b"USDT:2026-11-27 15:35:06 12211:12211 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"[W kineto] a real warning\n")
        os.write(2, b"USDT:2026-11-27 15:35:07 12211:12211 SyncActivityProfilerHandler.cpp:59] profiler_stop\n")
    assert capfd.readouterr().err == "[W kineto] a real warning\n"


def test_a_long_run_name_is_written_under_a_short_folder_that_preflight_checks(tmp_path: Path) -> None:
    """An experiment name of 300 bytes: the trace goes to a shortened folder, and the
    folder profile checks before training is that same one (not the unwritable full name)."""
    from perfkit.config.loader import load_config
    from perfkit.errors import PerfkitError
    from perfkit.io import check_writable
    from perfkit.runtime.preflight import preflight
    from perfkit.trace.files import MAX_RUN_NAME_BYTES, run_dir

    name = "x" * 300
    with ProfilerSession(config(tmp_path), name, loop_warmup_steps=0, use_cuda=False, worker="w") as session:
        tiny_loop(session, 6)
    path = session.trace_path
    assert path is not None and path.is_file()
    assert path.parent == run_dir(tmp_path / "traces", name)
    assert len(path.parent.name) <= MAX_RUN_NAME_BYTES
    with pytest.raises(PerfkitError, match="too long"):  # the full name could not be a folder
        check_writable(tmp_path / "traces" / name / "probe")

    quickstart = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        quickstart.read_text().replace("name: quickstart", f"name: {name}", 1)
        + f"\nprofiler: {{enabled: true, dir: {tmp_path / 'traces'}}}\n"
    )
    assert load_config(exp).config.name == name
    preflight(load_config(exp))  # passes: it checks the shortened folder
