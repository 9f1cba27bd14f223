"""Operator self CPU time agrees with torch.profiler's own key_averages()."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.profiler import ProfilerActivity, profile, schedule

from perfkit.trace import analyze_file


def test_self_cpu_totals_match_key_averages(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 14 * 14, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    path = tmp_path / "ops.pt.trace.json"
    with profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=0, warmup=1, active=3, repeat=1),
        on_trace_ready=lambda p: p.export_chrome_trace(str(path)),
    ) as prof:
        for _ in range(4):
            loss = model(torch.randn(16, 3, 16, 16)).sum()
            loss.backward()
            opt.step()
            opt.zero_grad()
            prof.step()

    ours = {o.name: o for o in analyze_file(path, top=10_000).top_ops_by_cpu}
    theirs = {e.key: e for e in prof.key_averages()}
    compared = 0
    for name, stat in sorted(ours.items(), key=lambda kv: -kv[1].self_cpu_ns)[:15]:
        expected_us = theirs[name].self_cpu_time_total
        assert stat.calls == theirs[name].count, name
        assert stat.self_cpu_ns / 1000 == pytest.approx(expected_us, rel=0.02), name
        compared += 1
    assert compared == 15
