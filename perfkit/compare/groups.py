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
    * ``in_process``: the runs were made by this process. Where the host RSS high-water
      mark could not be reset per run (:mod:`perfkit.runtime.host_memory`), their
      ``host_peak_rss_bytes`` is the process's lifetime peak, shared by every run made
      before, and says nothing about one input (:attr:`lifetime_rss_shared`).
    """

    label: str
    runs: tuple[RunResult, ...]
    rounds: tuple[int, ...] | None = None
    source: str = ""
    in_process: bool = False

    @property
    def lifetime_rss_shared(self) -> bool:
        """Some run's host peak RSS is this process's lifetime peak, shared with other runs."""
        return self.in_process and any(run.memory.host_peak_is_lifetime for run in self.runs)

    def __post_init__(self) -> None:
        if not self.runs:
            raise InputError(f"{self.label}: no runs to compare")
        if self.rounds is not None and len(self.rounds) != len(self.runs):
            raise InputError(f"{self.label}: {len(self.rounds)} round numbers for {len(self.runs)} runs")


__all__ = ["RunGroup"]
