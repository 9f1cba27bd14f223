"""The benchmark scripts check what they claim to measure (small sizes, no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from perfkit.trace.analysis import analyze_file

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("perfkit_ranges", [True, False])
def test_the_phases_trace_runs_the_full_attribution_path(tmp_path: Path, perfkit_ranges: bool) -> None:
    """bench_analyze's 'phases' trace: the backward kernels are launched from a second
    thread while the loop thread waits in perfkit/backward; every phase's median kernel
    count must be what the generator launched there ('foreign': the same trace without
    perfkit's ranges)."""
    bench = load_script("bench_analyze")
    path = tmp_path / "t.pt.trace.json"
    bench.generate_training(path, 3.5, perfkit_ranges=perfkit_ranges)  # ~10 steps
    analysis = analyze_file(path)
    expected = bench.expected_kernels()
    assert len(analysis.steps) >= 10
    assert sum(s.kernels or 0 for s in analysis.steps) == len(analysis.steps) * sum(expected.values())
    if perfkit_ranges:
        assert analysis.phase_mapping == "perfkit"
        assert {p: t.kernels for p, t in analysis.phases.items()} == expected
        assert (analysis.phases["h2d"].memcpy_ns or 0) > 0
        # the check the script prints and exits 1 on
        result = {"mapping": "perfkit", "steps": len(analysis.steps),
                  "kernels": {p: t.kernels for p, t in analysis.phases.items()},
                  "memcpy_ns": {p: t.memcpy_ns for p, t in analysis.phases.items()}}  # fmt: skip
        assert bench.check_attribution("phases", result)[1]
        result["kernels"]["other"] = 1
        assert not bench.check_attribution("phases", result)[1]
    else:
        assert analysis.phase_mapping != "perfkit"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore and posix_fadvise: Linux")
def test_page_cache_state_is_set_and_checked(tmp_path: Path) -> None:
    bench = load_script("bench_analyze")
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (4 << 20))
    if bench.set_cache(path, "cold") != 0.0:
        pytest.skip("this file system keeps the pages (e.g. tmpfs)")
    assert bench.set_cache(path, "warm") == 1.0
    assert bench.resident_share(path) == 1.0
