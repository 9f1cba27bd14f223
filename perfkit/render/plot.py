"""A picture of every step: stacked phase times, step by step (matplotlib, optional).

Plots the raw per-step samples as recorded — warm-up and traced steps included and
shaded, so the reader sees what the statistics excluded — with host time on top and, on
CUDA, device time below. Nothing is derived except the stacking itself.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from perfkit.errors import InputError
from perfkit.report import RunReport
from perfkit.results import ALL_PHASES

_COLORS = {
    "data": "#4c72b0",
    "h2d": "#55a868",
    "forward": "#c44e52",
    "backward": "#8172b2",
    "optimizer": "#ccb974",
    "other": "#999999",
}


def plot_steps(report: RunReport, path: str | Path) -> Path:
    """Write the step plot to ``path`` atomically (the format follows the suffix: .png,
    .svg, .pdf, ...); an unknown suffix or an unwritable place is an :class:`InputError`."""
    from perfkit.build.imports import MATPLOTLIB, import_extra

    plt: Any = import_extra(MATPLOTLIB, "", "--plot", error=InputError)
    plt.switch_backend("Agg")  # files only, never a window
    from perfkit.io import atomic_write_bytes, check_writable

    target = check_writable(path)
    image_format = target.suffix.lstrip(".").lower()
    supported = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if image_format not in supported:
        raise InputError(
            f"{target}: --plot writes an image named by its suffix; use one of "
            + ", ".join(f".{s}" for s in sorted(supported))
        )
    steps = report.result.steps
    device = any(s.device_ms is not None for s in steps)
    rows = 2 if device else 1
    fig, axes = plt.subplots(rows, 1, figsize=(10, 3.2 * rows), sharex=True, squeeze=False)
    x = [s.index for s in steps]
    for row, (label, values_of) in enumerate(
        [("host ms", lambda s, p: s.host_ms[p]), ("device ms", lambda s, p: (s.device_ms or {}).get(p, 0.0))][:rows]
    ):
        ax = axes[row][0]
        bottom = [0.0] * len(steps)
        for phase in ALL_PHASES:
            heights = [values_of(s, phase) for s in steps]
            ax.bar(x, heights, bottom=bottom, color=_COLORS[phase], width=0.85, label=phase)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        for s in steps:
            if s.warmup or s.traced:
                ax.axvspan(s.index - 0.5, s.index + 0.5, color="#000000", alpha=0.06 if s.warmup else 0.12, lw=0)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_title(
        f"perfkit · {report.result.name} · {report.result.environment.device_name} "
        "(light shade: warm-up, dark: traced; "
        + ("warm-up excluded; every measured step was traced, so the statistics use them)" if report.summary.headline_from_traced else "both excluded from the statistics)"),
        fontsize=9,
    )
    axes[0][0].legend(ncol=len(ALL_PHASES), fontsize=8, loc="upper right")
    axes[-1][0].set_xlabel("step")
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format=image_format, dpi=110)
    plt.close(fig)
    return atomic_write_bytes(target, image.getvalue())  # never a half-written image
