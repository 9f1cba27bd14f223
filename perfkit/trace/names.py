"""Names perfkit writes into traces and the names it recognises in foreign traces.

The training loop wraps each phase of a step in ``torch.profiler.record_function`` with
``phase_range_name(phase)`` (``"perfkit/forward"`` ...). The analysis finds those ranges
again by exact name, so the loop and the analysis must share these constants.

Traces perfkit did not record have no perfkit ranges. For them the analysis falls back to
torch's own ranges (see :data:`FOREIGN_PHASE_PATTERNS`) and autograd's own events
(:data:`AUTOGRAD_NODE_PREFIX`), and says so in a note.
"""

from __future__ import annotations

import re

from perfkit.results import PHASES

#: Prefix of every range perfkit records around a loop phase.
PHASE_RANGE_PREFIX = "perfkit/"

#: The range names, one per phase, e.g. ``PHASE_RANGES["forward"] == "perfkit/forward"``.
PHASE_RANGES: dict[str, str] = {phase: f"{PHASE_RANGE_PREFIX}{phase}" for phase in PHASES}

#: Phase key for device work launched outside every phase range (loop bookkeeping,
#: or a foreign trace's unmapped code). Matches :data:`perfkit.results.ALL_PHASES`.
OTHER_PHASE = "other"

#: The step ranges torch.profiler records on each ``prof.step()``: ``ProfilerStep#<n>``.
PROFILER_STEP_PREFIX = "ProfilerStep#"

#: torch's DataLoader iterator records ``enumerate(DataLoader)#<Iter>.__next__`` around
#: each batch fetch (with ``cat: user_annotation`` on torch >= 2, ``cpu_op`` before).
DATALOADER_RE = re.compile(r"^enumerate\(DataLoader\)#.*__next__$")

#: Foreign-trace phase mapping, used only when a trace has no ``perfkit/`` range at all:
#: the DataLoader fetch is ``data``; torch.optim's own ranges are ``optimizer``.
FOREIGN_PHASE_PATTERNS: dict[str, re.Pattern[str]] = {
    "data": DATALOADER_RE,
    "optimizer": re.compile(r"^Optimizer\.(step|zero_grad)#"),
}


#: autograd's engine records one ``cpu_op`` per backward node it runs, on the thread that
#: runs it (the device's autograd thread on CUDA, the calling thread on CPU):
#: ``autograd::engine::evaluate_function: AddmmBackward0``.
AUTOGRAD_NODE_PREFIX = "autograd::engine::evaluate_function: "


def phase_range_name(phase: str) -> str:
    """The ``record_function`` name for a loop phase (one of :data:`perfkit.results.PHASES`)."""
    if phase not in PHASE_RANGES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    return PHASE_RANGES[phase]


__all__ = [
    "AUTOGRAD_NODE_PREFIX",
    "DATALOADER_RE",
    "FOREIGN_PHASE_PATTERNS",
    "OTHER_PHASE",
    "PHASE_RANGES",
    "PHASE_RANGE_PREFIX",
    "PROFILER_STEP_PREFIX",
    "phase_range_name",
]
