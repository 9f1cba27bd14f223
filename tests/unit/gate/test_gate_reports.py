"""Gate reports: JUnit read back by a JUnit parser, Markdown against its golden file."""

from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped

from perfkit.config.schema import GateConfig
from perfkit.gate import compare_policy, evaluate_gate
from perfkit.render.compare_markdown import table_unit, value_cell
from perfkit.render.gate_report import gate_junit, gate_markdown
from tests.unit.gate.gate_synthetic import baseline, golden_case, runs

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def _golden_gate():  # type: ignore[no-untyped-def]
    stored, candidate = golden_case()
    return evaluate_gate(stored, candidate, compare_policy(GateConfig()))


def test_junit_has_one_case_per_gated_metric_and_failures_carry_the_numbers(tmp_path: Path) -> None:
    gate = _golden_gate()
    path = tmp_path / "gate.xml"
    path.write_text(gate_junit(gate))
    xml = JUnitXml.fromfile(str(path))
    suite = next(iter(xml))
    cases = {case.name: case for case in suite}
    assert set(cases) == {m.metric for m in gate.gated} | set(gate.not_measured)
    assert suite.tests == len(cases) and suite.failures == len(gate.failures)
    # Gated metrics neither side measured (device time on a CPU run) are skipped cases.
    assert "step_device_ms" in gate.not_measured
    assert suite.skipped == len(gate.not_measured)
    assert all(isinstance(r, Skipped) for name in gate.not_measured for r in cases[name].result)
    failed = {name for name, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
    assert failed == set(gate.failures)
    step_failure = next(r for r in cases["step_ms"].result if isinstance(r, Failure))
    step = next(m for m in gate.gated if m.metric == "step_ms")
    # baseline value, candidate value, ratio and the confidence interval
    assert step.baseline_value is not None and step.candidate_value is not None
    assert step.ci_low is not None and step.ci_high is not None
    assert f"ratio {step.ratio:.2f}×" in step_failure.message
    assert f"99% CI {step.ci_low:.2f}–{step.ci_high:.2f}" in step_failure.message
    unit = table_unit(gate.comparison)
    baseline_text = value_cell(step, step.baseline_value, step.baseline_spread, unit)
    candidate_text = value_cell(step, step.candidate_value, step.candidate_spread, unit)
    assert f"{baseline_text} → {candidate_text}" in step_failure.message
    assert cases["flops_per_step"].result and "1.77 MFLOP → 3.55 MFLOP" in cases["flops_per_step"].result[0].message
    assert cases["step_ms"].classname == "perfkit.gate.exp"


def test_passing_gate_has_no_failures(tmp_path: Path) -> None:
    gate = evaluate_gate(baseline(), runs(2), compare_policy(GateConfig()))
    path = tmp_path / "ok.xml"
    path.write_text(gate_junit(gate))
    suite = next(iter(JUnitXml.fromfile(str(path))))
    assert suite.failures == 0 and suite.tests == len(gate.gated) + len(gate.not_measured) > 0
    assert gate_markdown(gate).startswith("# ✅ perf gate PASSED: exp")


def test_an_undecided_gate_still_writes_junit(tmp_path: Path) -> None:
    from perfkit.render.gate_report import gate_error_junit

    path = tmp_path / "error.xml"
    path.write_text(gate_error_junit("exp", "baselines/exp.json: no such baseline"))
    suite = next(iter(JUnitXml.fromfile(str(path))))
    (case,) = list(suite)
    assert suite.errors == 1 and case.result[0].message == "baselines/exp.json: no such baseline"


def test_inconclusive_times_are_named_in_the_headline() -> None:
    from dataclasses import replace

    gate = evaluate_gate(baseline(), runs(2), compare_policy(GateConfig()))
    noisy = replace(gate, inconclusive=("step_ms",))
    assert "inconclusive: step_ms moved past the threshold without significance" in gate_markdown(noisy).splitlines()[0]


def test_markdown_and_junit_match_their_golden_files() -> None:
    gate = _golden_gate()
    assert gate_markdown(gate) == (GOLDEN / "gate.md").read_text(encoding="utf-8"), "run python scripts/regen_golden.py"
    assert gate_junit(gate) == (GOLDEN / "gate.xml").read_text(encoding="utf-8"), "run python scripts/regen_golden.py"
