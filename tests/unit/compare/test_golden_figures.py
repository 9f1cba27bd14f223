"""The key figures of the golden files, recomputed from the same inputs without perfkit.

``scripts/regen_golden.py --accept`` rewrites the golden files from whatever the code
outputs, so a diff against them cannot catch a regression that someone re-blessed. These
tests read the stored files and hold their ratios, intervals and p-values against figures
computed here from the synthetic runs' raw step times, with numpy and scipy directly:

* run value: the median of a run's measured step times (throughput: of samples ÷ step);
* paired (interleaved rounds): ``d = log(candidate / baseline)`` per round, the
  Hodges–Lehmann ratio ``exp(median of the Walsh averages)``, ``scipy.stats.wilcoxon``;
* runs (gate): ``exp(median of all log b_j - log a_i)``, ``scipy.stats.mannwhitneyu``;
* the 99% interval: every shift θ the same scipy test does not reject at α = 0.01,
  found by trying θ between each pair of neighbouring candidate endpoints (brute force,
  not perfkit's critical-value shortcut).

The script's own behaviour (diff, no write without ``--accept``) is tested here too, in a
temporary folder.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compare_synthetic import golden_groups
from scipy import stats

from perfkit.compare import RunGroup
from perfkit.results import RunResult
from tests.unit.gate.gate_synthetic import golden_case

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden"
ALPHA = 0.01


def step_values(run: RunResult) -> float:
    return float(np.median([s.step_host_ms for s in run.steps if not s.warmup]))


def throughput_values(run: RunResult) -> float:
    return float(np.median([s.samples / (s.step_host_ms / 1e3) for s in run.steps if not s.warmup]))


def inverted_interval(points: Sequence[float], p_of_shift: Callable[[float], float]) -> tuple[float, float]:
    """``exp`` of the smallest and largest θ among ``points`` that the test does not reject."""
    sorted_points = sorted(points)
    accepted = [
        k
        for k in range(len(sorted_points) - 1)
        if sorted_points[k] < sorted_points[k + 1]
        and p_of_shift((sorted_points[k] + sorted_points[k + 1]) / 2) >= ALPHA
    ]
    return math.exp(sorted_points[min(accepted)]), math.exp(sorted_points[max(accepted) + 1])


def paired_figures(base: Sequence[float], cand: Sequence[float]) -> dict[str, float]:
    d = np.log(np.asarray(cand)) - np.log(np.asarray(base))
    walsh = [(d[i] + d[j]) / 2 for i, j in itertools.combinations_with_replacement(range(d.size), 2)]
    low, high = inverted_interval(walsh, lambda theta: float(stats.wilcoxon(d - theta).pvalue))
    return {
        "ratio": math.exp(float(np.median(walsh))),
        "ci_low": low,
        "ci_high": high,
        "p_value": float(stats.wilcoxon(d).pvalue),
    }


def two_sample_figures(base: Sequence[float], cand: Sequence[float]) -> dict[str, float]:
    la, lb = np.log(np.asarray(base)), np.log(np.asarray(cand))
    diffs = [float(y - x) for x in la for y in lb]

    def p_of(theta: float) -> float:
        return float(stats.mannwhitneyu(lb - theta, la, alternative="two-sided").pvalue)

    low, high = inverted_interval(diffs, p_of)
    return {"ratio": math.exp(float(np.median(diffs))), "ci_low": low, "ci_high": high, "p_value": p_of(0.0)}


def stored_row(metric: str, candidate: str) -> dict[str, Any]:
    data = json.loads((GOLDEN / "compare.json").read_text(encoding="utf-8"))
    return next(m for m in data["metrics"] if m["metric"] == metric and m["candidate"] == candidate)


def groups() -> dict[str, RunGroup]:
    return {g.label: g for g in golden_groups()}


def assert_figures(row: dict[str, Any], expected: dict[str, float]) -> None:
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-9), (key, row[key], value)


def test_compare_slow_vs_base_step_figures() -> None:
    g = groups()
    base, slow = [step_values(r) for r in g["base"].runs], [step_values(r) for r in g["slow"].runs]
    assert g["base"].rounds == g["slow"].rounds == tuple(range(10))
    expected = paired_figures(base, slow)
    # Every round's candidate is slower: the exact signed-rank p is 2 / 2**10.
    assert all(s > b for b, s in zip(base, slow, strict=True)) and expected["p_value"] == 2 / 2**10
    assert 1.0 < expected["ci_low"] < expected["ratio"] < expected["ci_high"]
    row = stored_row("step_ms", "slow")
    assert row["design"] == "paired" and row["test"] == "wilcoxon"
    assert_figures(row, expected)
    assert row["baseline_value"] == pytest.approx(float(np.median(base)), rel=1e-12)
    assert row["candidate_value"] == pytest.approx(float(np.median(slow)), rel=1e-12)
    # ratio past the 5% threshold and p < α: regressed, in the file and in its Markdown.
    assert expected["ratio"] > 1.05 and row["verdict"]["status"] == "regressed"
    md = (GOLDEN / "compare.md").read_text(encoding="utf-8")
    cells = (
        f"| {expected['ratio']:.2f}× | {expected['ci_low']:.2f}–{expected['ci_high']:.2f} "
        f"| {expected['p_value']:.2g} | **regressed** |"
    )
    assert f"| step (ms)* | {np.median(base):.2f} | {np.median(slow):.3g} {cells}" in md


def test_compare_phases_follow_the_step() -> None:
    """The synthetic phases are fixed shares of the step, so every phase ratio is the step's."""
    g = groups()
    for phase in ("data", "forward", "backward", "optimizer"):
        base = [float(np.median([s.host_ms[phase] for s in r.steps if not s.warmup])) for r in g["base"].runs]
        slow = [float(np.median([s.host_ms[phase] for s in r.steps if not s.warmup])) for r in g["slow"].runs]
        assert_figures(stored_row(f"phase.{phase}.host_ms", "slow"), paired_figures(base, slow))


@pytest.mark.parametrize("candidate", ["slow", "batch16"])
def test_compare_throughput_figures(candidate: str) -> None:
    g = groups()
    base = [throughput_values(r) for r in g["base"].runs]
    cand = [throughput_values(r) for r in g[candidate].runs]
    expected = paired_figures(base, cand)
    row = stored_row("throughput.samples_per_s", candidate)
    assert_figures(row, expected)
    if candidate == "batch16":  # twice the batch in about twice the time: no significant change
        assert expected["p_value"] > ALPHA and expected["ci_low"] < 1.0 < expected["ci_high"]
        assert row["verdict"]["status"] == "unchanged"
    else:
        assert expected["ci_high"] < 1.0 and row["verdict"]["status"] == "regressed"


def test_gate_figures() -> None:
    stored, candidate = golden_case()
    base = [step_values(r) for r in stored.runs]
    cand = [step_values(r) for r in candidate]
    expected = two_sample_figures(base, cand)
    # 5 vs 5 runs, every candidate run slower: the exact Mann–Whitney p is 2 / C(10, 5).
    assert min(cand) > max(base) and expected["p_value"] == pytest.approx(2 / math.comb(10, 5))
    ratio, low, high, p = expected["ratio"], expected["ci_low"], expected["ci_high"], expected["p_value"]
    assert ratio > 1.10 and p < ALPHA  # past the gate's 10% threshold, significant
    line = (
        f"- **step_ms**: {np.median(base):.2f} → {np.median(cand):.2f} "
        f"(ratio {ratio:.2f}×, 99% CI {low:.2f}–{high:.2f}, p = {p:.2g})"
    )
    assert line in (GOLDEN / "gate.md").read_text(encoding="utf-8").splitlines()
    tput = two_sample_figures([throughput_values(r) for r in stored.runs], [throughput_values(r) for r in candidate])
    suite = ET.parse(GOLDEN / "gate.xml").getroot()
    messages = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    for metric, figures in (("step_ms", expected), ("throughput.samples_per_s", tput)):
        failure = messages[metric]
        assert failure is not None
        text = failure.text or ""
        assert (
            f"ratio {figures['ratio']:.2f}×, 99% CI {figures['ci_low']:.2f}–{figures['ci_high']:.2f}, "
            f"p {figures['p_value']:.3g}, threshold 10%, verdict regressed"
        ) in text


# --------------------------------------------------------------------------- the script


def regen_module() -> Any:
    spec = importlib.util.spec_from_file_location("regen_golden", ROOT / "scripts" / "regen_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regen_prints_the_diff_and_writes_only_with_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regen = regen_module()
    outputs = regen.golden_outputs()
    for name, text in outputs.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert regen.main(["--dir", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out

    stale = outputs["compare.md"].replace("**regressed**", "unchanged", 1)
    (tmp_path / "compare.md").write_text(stale, encoding="utf-8")
    (tmp_path / "gate.md").unlink()
    before = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    assert regen.main(["--dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "--- golden/compare.md\n+++ current/compare.md\n" in captured.out
    compare_diff, _, gate_diff = captured.out.partition("--- golden/gate.md (missing)\n+++ current/gate.md\n")
    removed = [line for line in compare_diff.splitlines() if line.startswith("-| ")]
    added = [line for line in compare_diff.splitlines() if line.startswith("+| ")]
    assert len(removed) == len(added) == 1 and "unchanged" in removed[0] and "**regressed**" in added[0]
    gate_lines = outputs["gate.md"].splitlines()
    assert gate_diff.splitlines() == [f"@@ -0,0 +1,{len(gate_lines)} @@", *("+" + line for line in gate_lines)]
    assert "compare.md, gate.md" in captured.err and "nothing written" in captured.err
    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()} == before

    assert regen.main(["--dir", str(tmp_path), "--accept"]) == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()} == outputs
