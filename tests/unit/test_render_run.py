"""Contract test: every run renderer handles an empty run, a one-step run and a normal one,
and prints only what the report holds."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from perfkit.io import dumps_json
from perfkit.render.run_console import render_run
from perfkit.render.run_markdown import run_markdown
from perfkit.report import build_run_report, run_document
from tests.factories import run, steady_run, step

RESULTS = {
    "empty": run([]),
    "one-step": run([step(1, {"forward": 3.0})]),
    "normal": steady_run(),
    "cuda-like": run([step(i, {"forward": 1.0}, device={"forward": 5.0}) for i in range(1, 5)], peak_flops=1e12),
}


def console_text(result_key: str) -> str:
    buffer = io.StringIO()
    render_run(build_run_report(RESULTS[result_key]), Console(file=buffer, width=120, color_system=None))
    return buffer.getvalue()


@pytest.mark.parametrize("key", list(RESULTS))
def test_every_renderer_handles_every_shape(key: str) -> None:
    report = build_run_report(RESULTS[key])
    assert "perfkit" in console_text(key)
    assert run_markdown(report).startswith("## perfkit: ")
    assert json.loads(dumps_json(run_document(report)))["name"] == RESULTS[key].name


def test_console_shows_measured_figures() -> None:
    text = console_text("normal")
    report = build_run_report(RESULTS["normal"])
    forward = report.summary.phase("forward")
    assert forward is not None
    assert f"{forward.host.median:.1f}" in text
    assert "10 measured steps, 1 warm-up excluded" in text
    assert "MFU — (no datasheet peak" in text  # absent, never guessed


def test_device_columns_only_with_device_times() -> None:
    assert "device" not in console_text("normal").split("Step breakdown")[1].splitlines()[2]
    cuda = console_text("cuda-like")
    assert "% device" in cuda
    assert "MFU" in cuda and "of 1.00 TFLOP/s" in cuda


def test_markdown_is_a_github_table() -> None:
    md = run_markdown(build_run_report(RESULTS["normal"]))
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| phase"))
    assert lines[header + 1].startswith("| --- | ---: |")
    assert sum(1 for line in lines if line.startswith("| ")) == 2 + 6 + 1  # header, rule, phases, step


def test_partial_runs_are_marked() -> None:
    partial = run([step(1, {"forward": 3.0})], partial=True)
    assert "PARTIAL" in run_markdown(build_run_report(partial))


def test_cuda_tables_show_device_iqr_and_the_device_share_bar() -> None:
    steps = [step(i, {"forward": 1.0, "data": 3.0}, device={"forward": 8.0, "data": 0.0}) for i in range(1, 5)]
    report = build_run_report(run(steps))
    buffer = io.StringIO()
    render_run(report, Console(file=buffer, width=160, color_system=None))
    table = buffer.getvalue().split("Step breakdown")[1]
    assert "device IQR" in table
    forward = next(line for line in table.splitlines() if line.startswith("│ forward"))
    data = next(line for line in table.splitlines() if line.startswith("│ data"))
    assert "█" in forward and "█" not in data  # the GPU spends its time in forward, not waiting on data
    md = run_markdown(report)
    assert "| device IQR (ms) | share |" in md


def test_markdown_escapes_names_and_warnings() -> None:
    from perfkit.results import RunWarning

    result = run([step(1, {"forward": 3.0})], name="cuda <fake> | run_*x*", warnings=[RunWarning("flops-unavailable", "FLOP counting failed (KeyError: <lambda>)")])
    md = run_markdown(build_run_report(result))
    assert md.startswith("## perfkit: cuda \\<fake\\> \\| run\\_\\*x\\*")
    assert "KeyError: \\<lambda\\>" in md


def test_a_one_second_step_keeps_its_small_phases_visible() -> None:
    steps = [step(i, {"forward": 1000.0 + i, "data": 0.05}) for i in range(1, 6)]
    md = run_markdown(build_run_report(run(steps)))
    data = next(line for line in md.splitlines() if line.startswith("| data"))
    assert "(ms)" in md and "| 0.05 |" in data  # not 0.000 s


def test_mfu_absence_gives_the_true_reason() -> None:
    from perfkit.results import RunWarning

    failed = run([step(1, {"forward": 3.0})], flops=None, warnings=[RunWarning("flops-unavailable", "FLOP counting failed (X)")])
    assert build_run_report(failed).summary.mfu_absent_reason == "FLOP counting failed (see warnings)"
    unknown = build_run_report(run([step(1, {"forward": 3.0})])).summary.mfu_absent_reason
    assert unknown is not None and unknown.startswith("no datasheet peak for")
