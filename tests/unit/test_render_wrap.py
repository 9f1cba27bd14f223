"""Console prose wraps at 80 columns (advice, notes, warnings), commands stay whole, and
the phase table says that its shares are of the summed time, not of the median step."""

from __future__ import annotations

import io
import re

from rich.console import Console

from perfkit.advice import Advice
from perfkit.render.advice_render import advice_renderable
from perfkit.render.format import TEXT_WIDTH, wrap
from perfkit.render.run_console import render_run
from perfkit.report import build_run_report
from perfkit.results import RunWarning
from tests.factories import run, steady_run, step

LONG = (
    "Too many DataLoader workers for the CPUs: the workers compete with the training loop "
    "for the same cores and the step waits on them more than it would with fewer; compare "
    "fewer workers (perfkit compare exp.yaml --vs data.num_workers=2 --vs data.num_workers=4) "
    "or read /a/very/long/path/to/somewhere/deep/inside/a/project/folder/that/never/ends/trace.json"
)


def cli_console(buffer: io.StringIO) -> Console:
    """A console like the CLI's: never wraps text lines itself (soft wrap), 200 columns."""
    return Console(file=buffer, width=200, soft_wrap=True, color_system=None, highlight=False)


def words(text: str) -> list[str]:
    return text.split()


def test_wrap_keeps_every_word_and_indents_the_continuation() -> None:
    lines = wrap(LONG, indent="  1. ")
    assert lines[0].startswith("  1. Too many")
    assert all(line.startswith("     ") for line in lines[1:])
    assert words(" ".join(lines))[1:] == words(LONG)  # nothing lost or split ("1." aside)
    command = "(perfkit compare exp.yaml --vs data.num_workers=2 --vs data.num_workers=4)"
    assert any(command in line for line in lines)  # a command is never broken
    path = "/a/very/long/path/to/somewhere/deep/inside/a/project/folder/that/never/ends/trace.json"
    assert any(line.strip() == path or line.endswith(path) for line in lines)  # nor a path
    over = [line for line in lines if len(line) > TEXT_WIDTH]
    assert all(path in line or command in line for line in over)  # only an unbreakable one is longer


def test_wrap_of_short_and_empty_text() -> None:
    assert wrap("short", indent="  ! ") == ["  ! short"]
    assert wrap("", indent="  ! ") == ["  !"]


def test_advice_wraps_at_80_columns_under_its_number() -> None:
    advice = [Advice(rule="r", severity="high", title=LONG.replace(" (perfkit", " perfkit").replace(")", ""), evidence=LONG[:200], threshold="workers > CPUs - 1")]
    buffer = io.StringIO()
    cli_console(buffer).print(advice_renderable(advice))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "Advice"
    assert lines[1].startswith("  1. [high] Too many DataLoader workers")
    body = [line for line in lines[1:] if "/a/very/long/path" not in line]
    assert all(len(line) <= TEXT_WIDTH for line in body), max(body, key=len)
    assert all(line.startswith("     ") for line in lines[2:])
    because = next(i for i, line in enumerate(lines) if line.startswith("     because "))
    assert words(" ".join(lines[because:])) == words(f"because {LONG[:200]} (rule: workers > CPUs - 1)")


def test_run_report_notes_warnings_and_advice_fit_80_columns() -> None:
    result = steady_run(warnings=[RunWarning("loss-nan", "loss became NaN at step 4; " + LONG[:150])])
    report = build_run_report(result)
    buffer = io.StringIO()
    render_run(report, cli_console(buffer))
    text = buffer.getvalue()
    start = text.index("Warnings")
    prose = [line for line in text[start:].splitlines() if line.strip()]
    assert any(line.startswith("  ! loss became NaN") for line in prose)
    assert all(len(line) <= TEXT_WIDTH for line in prose), max(prose, key=len)


def test_the_share_column_says_it_is_of_the_summed_time() -> None:
    # One slow data step: its median is small, its share of the summed time is not.
    steps = [step(i, {"data": 1.0, "forward": 9.0}) for i in range(1, 10)] + [step(10, {"data": 81.0, "forward": 9.0})]
    report = build_run_report(run(steps))
    data = report.summary.phase("data")
    assert data is not None and data.host.median == 1.0 and abs(data.share - 0.5) < 1e-9
    buffer = io.StringIO()
    render_run(report, cli_console(buffer))
    text = buffer.getvalue()
    assert "% of step" not in text
    header = next(line for line in text.splitlines() if "phase" in line and "host" in line)
    assert re.search(r"% of total", header)
    assert "% of total: share of the steps' summed time (medians need not add up)" in text
    row = next(line for line in text.splitlines() if line.startswith("│ data"))
    assert "1.00" in row and "50.0%" in row  # both figures, each under its own label
