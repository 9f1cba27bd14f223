"""Rendering a :class:`~perfkit.gate.engine.GateResult`: console, Markdown and JUnit XML.

Formatting only. JUnit has one ``<testcase>`` per gated metric (CI systems show them as
tests): a regression is a ``<failure>`` carrying the baseline and candidate values, the
ratio and its confidence interval; a metric neither side measured is ``<skipped>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rich.console import Console, Group
from rich.text import Text

from perfkit.compare.model import MetricComparison, Status
from perfkit.gate.engine import GateResult
from perfkit.render.compare_console import render_comparison
from perfkit.render.compare_markdown import (
    ci_cell,
    comparison_markdown,
    ratio_cell,
    table_unit,
    value_cell,
)


def _headline(gate: GateResult) -> str:
    if gate.passed:
        inconclusive = f" (inconclusive: {', '.join(gate.inconclusive)} moved past the threshold without significance)" if gate.inconclusive else ""
        return f"perf gate PASSED: {gate.name} against {gate.baseline_source}{inconclusive}"
    return f"perf gate FAILED: {gate.name} regressed on {', '.join(gate.failures)} (baseline {gate.baseline_source})"


def _notes(gate: GateResult) -> list[str]:
    notes = [f"Warning: {warning}" for warning in gate.warnings]
    if gate.stale:
        notes.append(
            f"Counters improved ({', '.join(gate.stale)}): the baseline is stale; record a new one with "
            "'perfkit baseline save' once this change lands."
        )
    if gate.environment_changes:
        notes.append(
            "Compared across environments (--allow-env-change): " + "; ".join(gate.environment_changes) + "."
        )
    if gate.not_measured:
        notes.append(f"Gated but not measured by either side: {', '.join(gate.not_measured)}.")
    return notes


GATED_NOTE = "the gate fails when one of these regressed."


def render_gate(gate: GateResult, console: Console) -> None:
    render_comparison(gate.comparison, console, gated_note=GATED_NOTE)
    console.print()
    lines = [Text(_headline(gate), style="bold green" if gate.passed else "bold red")]
    lines += [Text(f"  {note}", style="yellow") for note in _notes(gate)]
    console.print(Group(*lines))


def gate_markdown(gate: GateResult) -> str:
    icon = "✅" if gate.passed else "❌"
    lines = [f"# {icon} {_headline(gate)}", ""]
    if gate.failures:
        unit = table_unit(gate.comparison)
        for row in gate.gated:
            if row.metric in gate.failures:
                lines.append(f"- **{row.metric}**: {_change(row, unit)}")
        lines.append("")
    lines += [f"> {note}" for note in _notes(gate)]
    if _notes(gate):
        lines.append("")
    body = comparison_markdown(gate.comparison, title="## Candidate against the baseline", gated_note=GATED_NOTE)
    return "\n".join(lines) + "\n" + body


def _change(row: MetricComparison, unit: tuple[str, float]) -> str:
    baseline = value_cell(row, row.baseline_value, row.baseline_spread, unit)
    candidate = value_cell(row, row.candidate_value, row.candidate_spread, unit)
    text = f"{baseline} → {candidate} (ratio {ratio_cell(row)}"
    interval = ci_cell(row)
    if row.kind != "counter" and interval not in ("", "—"):
        text += f", {100 * row.confidence:g}% CI {interval}"
    if row.p_value is not None:
        text += f", p = {row.p_value:.2g}"
    return text + ")"


def gate_junit(gate: GateResult) -> str:
    """JUnit XML: one test case per gated metric."""
    unit = table_unit(gate.comparison)
    gated = gate.gated
    failures = len(gate.failures)
    tests = len(gated) + len(gate.not_measured)
    suites = ET.Element("testsuites", name="perfkit gate", tests=str(tests), failures=str(failures), errors="0")
    suite = ET.SubElement(
        suites, "testsuite", name=f"perfkit gate: {gate.name}", tests=str(tests), failures=str(failures),
        errors="0", skipped=str(len(gate.not_measured)),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="baseline", value=gate.baseline_source)
    for index, warning in enumerate(gate.warnings, start=1):
        ET.SubElement(props, "property", name=f"warning.{index}", value=warning)
    ET.SubElement(props, "property", name="alpha", value=f"{gate.comparison.policy.alpha:g}")
    for group in gate.comparison.groups:
        ET.SubElement(props, "property", name=f"{group.label}.runs", value=str(group.runs))
        ET.SubElement(props, "property", name=f"{group.label}.device", value=group.device)
        ET.SubElement(props, "property", name=f"{group.label}.torch", value=group.torch)
    for row in gated:
        case = ET.SubElement(suite, "testcase", classname=f"perfkit.gate.{gate.name}", name=row.metric, time="0")
        detail = (
            f"{row.title}: baseline {value_cell(row, row.baseline_value, row.baseline_spread, unit)}, "
            f"candidate {value_cell(row, row.candidate_value, row.candidate_spread, unit)}, ratio {ratio_cell(row)}, "
            f"{100 * row.confidence:g}% CI {ci_cell(row)}, p {'—' if row.p_value is None else f'{row.p_value:.3g}'}, "
            f"threshold {100 * row.threshold:g}%, verdict {row.verdict.status.value}"
            + (f" ({row.verdict.reason})" if row.verdict.reason else "")
        )
        if row.verdict.status is Status.REGRESSED:
            failure = ET.SubElement(case, "failure", message=f"{row.metric} regressed: {_change(row, unit)}", type="regression")
            failure.text = detail
        else:
            out = ET.SubElement(case, "system-out")
            out.text = detail
    for metric in gate.not_measured:
        case = ET.SubElement(suite, "testcase", classname=f"perfkit.gate.{gate.name}", name=metric, time="0")
        ET.SubElement(case, "skipped", message="not measured by either side (e.g. device time on a CPU run)")
    return _xml(suites)


def gate_error_junit(name: str, message: str) -> str:
    """JUnit for a gate that could not decide (exit 2): one errored test case, so that a
    CI's JUnit publisher shows the reason instead of finding no report."""
    suites = ET.Element("testsuites", name="perfkit gate", tests="1", failures="0", errors="1")
    suite = ET.SubElement(suites, "testsuite", name=f"perfkit gate: {name}", tests="1", failures="0", errors="1", skipped="0")
    case = ET.SubElement(suite, "testcase", classname=f"perfkit.gate.{name}", name="gate", time="0")
    error = ET.SubElement(case, "error", message=message, type="usage")
    error.text = message
    return _xml(suites)


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
