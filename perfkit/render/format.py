"""Number formatting shared by the renderers. Pure formatting: no statistics here."""

from __future__ import annotations

import math
import re
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfkit.results import Memory

_TIME_UNITS = (("s", 1e3), ("ms", 1.0), ("µs", 1e-3))


#: Width of prose (advice, notes, warnings) in console reports.
TEXT_WIDTH = 80


#: Commands in prose (``(perfkit compare exp.yaml --vs ...)``, `` `...` ``): kept on one line.
_COMMAND = re.compile(r"\((?:perfkit|tensorboard|python) [^()]*\)|`[^`]*`")
_KEEP = "\x00"  # a space inside a command, until the lines are made


def wrap(text: str, indent: str = "", hanging: str | None = None, width: int = TEXT_WIDTH) -> list[str]:
    """``text`` broken at spaces into lines of at most ``width`` columns: the first line
    starts with ``indent``, the others with ``hanging`` (default: spaces as wide as
    ``indent``). Words are never split, not even at hyphens, and commands (in backticks,
    or in parentheses starting with ``perfkit``) never broken, so paths, ``--flags`` and
    commands stay copy-pasteable (one longer than a line gets a line of its own)."""
    kept = _COMMAND.sub(lambda m: m.group(0).replace(" ", _KEEP), text)
    lines = textwrap.wrap(
        kept,
        width=width,
        initial_indent=indent,
        subsequent_indent=" " * len(indent) if hanging is None else hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [line.replace(_KEEP, " ") for line in lines] or [indent.rstrip()]


def time_unit_for(reference_ms: float | None) -> tuple[str, float]:
    """One unit for a whole table, chosen from a reference value (e.g. the median step)."""
    if reference_ms is None or reference_ms <= 0:
        return "ms", 1.0
    for unit, scale in _TIME_UNITS:
        if reference_ms >= scale:
            return unit, scale
    return "µs", 1e-3


def phase_unit_for(step_ms: float | None) -> tuple[str, float]:
    """The one unit of a phase table: ms, or µs for sub-millisecond steps. Never seconds:
    next to a 1 s step, a 0.05 ms data phase would print as 0.000."""
    unit = time_unit_for(step_ms)
    return ("ms", 1.0) if unit[0] == "s" else unit


def decimals_for(uncertainty: float | None, max_decimals: int = 3, min_decimals: int = 1) -> int:
    """Decimal places an uncertainty supports: none below its first significant digit.

    At least ``min_decimals`` so that neighbouring rows stay aligned and readable."""
    if uncertainty is None or uncertainty <= 0 or not math.isfinite(uncertainty):
        return min(2, max_decimals)
    return max(min_decimals, min(max_decimals, -math.floor(math.log10(uncertainty))))


def fmt_time(value_ms: float | None, unit: tuple[str, float], decimals: int = 2) -> str:
    if value_ms is None:
        return "—"
    return f"{value_ms / unit[1]:.{decimals}f}"


def fmt_pct(fraction: float | None, decimals: int = 1) -> str:
    return "—" if fraction is None else f"{100 * fraction:.{decimals}f}%"


def fmt_bytes(value: int | float | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def fmt_si(value: float | None, unit: str = "", decimals: int = 2) -> str:
    """1.23 G, 4.56 T ... for FLOPs, FLOP/s and rates."""
    if value is None:
        return "—"
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{decimals}f} {prefix}{unit}"
    return f"{value:.{decimals}f} {unit}".rstrip()


def fmt_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def rss_scope(memory: Memory) -> str:
    """What a run's host peak RSS covers, in words."""
    return "process lifetime" if memory.host_peak_is_lifetime else "measured steps"


def bar(fraction: float | None, width: int = 20) -> str:
    """A text bar for a share of the step (eighth-block resolution)."""
    if fraction is None or fraction <= 0:
        return ""
    blocks = " ▏▎▍▌▋▊▉█"
    eighths = round(min(1.0, fraction) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (blocks[rest] if rest else "")


#: Characters Markdown (GitHub's) would read as markup or HTML.
_MARKUP = re.compile(r"([\\`*_\[\]<>|~])")


def md_text(text: str) -> str:
    """``text`` shown literally in Markdown, on one line: GitHub drops what looks like HTML
    (a kernel's ``<float>``, ``perfkit/<phase>``) and reads ``*``/``_``/backticks/brackets
    as formatting, so those are backslash-escaped, and ``|`` (it would end a table cell)."""
    return _MARKUP.sub(r"\\\1", text.replace("\n", " "))
