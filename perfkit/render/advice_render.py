"""Rendering advice lists (console and Markdown), shared by run and trace reports."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from perfkit.advice import Advice
from perfkit.render.format import md_text, wrap

_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def advice_renderable(advice: Sequence[Advice]) -> RenderableType:
    """The numbered advice, each wrapped at 80 columns under its number."""
    if not advice:
        return Text("Advice: nothing to change by perfkit's rules.", style="green")
    lines = [Text("Advice", style="bold")]
    for i, a in enumerate(advice, 1):
        number, tag = f"  {i}. ", f"[{a.severity}]"
        first, *rest = wrap(f"{tag} {a.title}", indent=number)
        title = Text(first)
        title.stylize(_SEVERITY_STYLE.get(a.severity, ""), len(number), len(number) + len(tag))
        lines += [title, *(Text(line) for line in rest)]
        because = wrap(f"because {a.evidence} (rule: {a.threshold})", indent=" " * len(number))
        lines += [Text(line, style="dim") for line in because]
    return Group(*lines)


def advice_markdown(advice: Sequence[Advice], heading: str = "###") -> list[str]:
    lines = [f"{heading} Advice", ""]
    if not advice:
        return [*lines, "Nothing to change by perfkit's rules."]
    return lines + [
        f"{i}. **[{a.severity}]** {md_text(a.title)} — because {md_text(a.evidence)} (rule: {md_text(a.threshold)})"
        for i, a in enumerate(advice, 1)
    ]
