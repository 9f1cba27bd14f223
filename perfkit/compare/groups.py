"""The inputs of a comparison: one :class:`RunGroup` per labelled input."""

from __future__ import annotations

from dataclasses import dataclass

from perfkit.errors import InputError
from perfkit.results import RunResult


@dataclass(frozen=True)
class RunGroup:
    """One labelled input: its runs, one per repeat.

    * ``rounds``: for runs made by :func:`perfkit.compare.run_interleaved`, the round each
      run belongs to (same length as ``runs``). Two groups with rounds in common are
      compared *paired*, round by round: runs of one round ran next to each other in time
      and share the machine's state. ``None`` for saved runs (no pairing).
    * ``source``: where the runs came from (config path and overrides, or files).
    * ``in_process``: the runs were made by this process. Their ``host_peak_rss_bytes`` is
      the process's lifetime peak (``ru_maxrss``), shared by every run made before, so it
      says nothing about one input.
    """

    label: str
    runs: tuple[RunResult, ...]
    rounds: tuple[int, ...] | None = None
    source: str = ""
    in_process: bool = False

    def __post_init__(self) -> None:
        if not self.runs:
            raise InputError(f"{self.label}: no runs to compare")
        if self.rounds is not None and len(self.rounds) != len(self.runs):
            raise InputError(f"{self.label}: {len(self.rounds)} round numbers for {len(self.runs)} runs")


__all__ = ["RunGroup"]
