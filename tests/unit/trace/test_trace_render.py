"""Console and Markdown renderers: every analysis shape renders, only its fields are shown."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from trace_helpers import CUDA_FIXTURE, ev, launch, write_trace

from perfkit.render.trace_console import trace_renderables
from perfkit.render.trace_markdown import trace_markdown
from perfkit.trace import TraceAnalysis, analyze_file


def analyses(tmp_path: Path) -> dict[str, TraceAnalysis]:
    cpu = write_trace(
        tmp_path / "cpu.pt.trace.json",
        [ev("user_annotation", "ProfilerStep#1", 0, 10), ev("user_annotation", "perfkit/forward", 1, 5),
         ev("cpu_op", "aten::mm", 2, 3)],
    )  # fmt: skip
    span = write_trace(tmp_path / "span.pt.trace.json", [ev("cpu_op", "aten::add", 0, 1)])
    return {"gpu": analyze_file(CUDA_FIXTURE), "cpu": analyze_file(cpu), "span": analyze_file(span)}


def console_text(a: TraceAnalysis, **kw: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    for r in trace_renderables(a, **kw):
        console.print(r)
    return out.getvalue()


def test_every_shape_renders_in_both_formats(tmp_path: Path) -> None:
    for name, a in analyses(tmp_path).items():
        text = console_text(a)
        md = trace_markdown(a)
        assert "Step-time breakdown" in text and "Step-time breakdown" in md, name
        for block in md.split("\n\n"):
            rows = [line for line in block.splitlines() if line.startswith("| ")]
            if rows:  # every row of a table has as many cells as its header
                assert len({len(re.findall(r"(?<!\\)\|", r)) for r in rows}) == 1, block


def test_gpu_report_shows_the_analysis_fields(tmp_path: Path) -> None:
    a = analyses(tmp_path)["gpu"]
    text = console_text(a)
    md = trace_markdown(a)
    for out in (text, md):
        assert "41.2%" in out  # GPU utilization 338/820
        assert "ProfilerStep#11" in out and "ncclDevKernel" in out
        assert "tensorboard --logdir " in out and "https://ui.perfetto.dev" in out
        assert "0.149" in out and "0.298" in out  # step 10's kernel busy, all steps' Kernel (ms)
        assert "cuLaunchKernel" in out  # the note
    assert console_text(a, show_view=False).count("tensorboard --logdir") == 0


def test_cpu_report_marks_device_metrics_not_applicable(tmp_path: Path) -> None:
    a = analyses(tmp_path)["cpu"]
    for out in (console_text(a), trace_markdown(a)):
        assert "not applicable (no device activity in trace)" in out
        assert "GPU utilization" not in out
        # No device: steps are host ranges, nothing is anchored to a device.
        assert "device-anchored" not in out and "Kernel busy" not in out
    gpu = analyses(tmp_path)["gpu"]
    assert "device-anchored" in console_text(gpu) and "device-anchored" in trace_markdown(gpu)


@pytest.mark.parametrize("fmt", ["console", "md"])
def test_a_saved_analysis_renders_the_same(tmp_path: Path, fmt: str) -> None:
    a = analyses(tmp_path)["gpu"]
    again = TraceAnalysis.from_dict(a.to_dict())
    render = console_text if fmt == "console" else trace_markdown
    assert render(again) == render(a)


def test_markdown_keeps_angle_brackets_and_markup_characters_on_github(tmp_path: Path) -> None:
    """GitHub drops `<float>` as an HTML tag and reads `*`/`_` as emphasis: rendered to
    HTML, every kernel name, note and title must still read as written."""
    markdown_it = pytest.importorskip("markdown_it")
    kernel = "void at::native::kernel<float, 4>(at::Array<char*, 3>, __half*, x_y_z)"
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("user_annotation", "perfkit/forward", 0, 60),
        ev("cpu_op", "aten::mm", 1, 40),
        *launch("cudaLaunchKernel", 2, 3, 1, kernel, 6, 30),
    ]
    a = analyze_file(write_trace(tmp_path / "md.pt.trace.json", events))
    md = trace_markdown(a)
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    # Literal text: entities in the HTML, never a tag, no <em>/<strong> from * or _.
    assert "&lt;float, 4&gt;(at::Array&lt;char*, 3&gt;, __half*, x_y_z)" in html
    assert "perfkit/&lt;phase&gt;" in html  # in a note and in the phases table's title
    assert "<float" not in html and "<phase>" not in html
    assert "<em>" not in html


def test_view_commands_paste_into_a_shell(tmp_path: Path) -> None:
    import shlex
    from dataclasses import replace

    from perfkit.trace.tables import view_lines

    folder = tmp_path / "my traces"
    analysis = replace(analyze_file(CUDA_FIXTURE), tensorboard_logdir=str(folder), trace_path=str(folder / "run" / "w.pt.trace.json"))
    tensorboard, perfetto = view_lines(analysis)
    assert shlex.split(tensorboard.removeprefix("view: ")) == ["tensorboard", "--logdir", str(folder)]
    assert shlex.split(perfetto.removeprefix("  or: "))[1] == str(folder / "run" / "w.pt.trace.json")
