"""Run several experiments interleaved, round by round, so that drift hits them alike.

``perfkit compare a.yaml b.yaml --repeats N`` runs N rounds; each round runs every input
once, back to back. A machine that slows down (heat, a neighbour's job, frequency
scaling) then slows every input of that round, and the paired test of
:mod:`perfkit.compare.significance` compares inputs *within* rounds.

Two refinements (cheap insurance; the rank test would absorb a single odd round, but not a
bias that hits every round the same way):

* **Alternating order.** Round ``r`` starts with input ``r mod k`` (A B, B A, A B, … for
  two inputs). A fixed order would hand every round's second slot the same advantage or
  penalty (warm caches, a heated CPU, the allocator state the first run left) and bias
  every round the same way; rotating turns that order effect into noise that cancels.
* **Warm-up rounds.** ``warmup_rounds`` rounds (default 1) run first and are discarded:
  the process's first runs pay one-time costs (lazy library initialisation, allocator
  growth) that would otherwise land on round 1's first input.

Each run is an independent experiment (its own seed, model, loader and warm-up steps),
made by the injected ``run`` callable: :func:`perfkit.runtime.runner.run_experiment` in
the CLI, a fake in tests (no torch needed). ``gc.collect()`` runs before each run so that
one input's garbage is not collected during the next input's steps.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfkit.compare.groups import RunGroup
from perfkit.errors import InputError
from perfkit.results import RunResult

if TYPE_CHECKING:
    from perfkit.config.loader import LoadedConfig

RunFn = Callable[["LoadedConfig"], RunResult]


@dataclass(frozen=True)
class ConfigInput:
    """One input to run: a label, its loaded config (overrides applied) and where it came from."""

    label: str
    config: LoadedConfig
    source: str = ""


@dataclass(frozen=True)
class ScheduledRun:
    """One slot of the schedule: ``round`` (negative for warm-up rounds) and which input."""

    round: int
    index: int

    @property
    def warmup(self) -> bool:
        return self.round < 0


ProgressFn = Callable[[int, int, ScheduledRun], None]


@dataclass(frozen=True)
class InterleavedRuns:
    """The groups made by :func:`run_interleaved` (in input order) and how far it got."""

    groups: tuple[RunGroup, ...]
    rounds_completed: int
    interrupted: bool


def schedule(n_inputs: int, repeats: int, warmup_rounds: int = 1) -> tuple[ScheduledRun, ...]:
    """The run order: warm-up rounds (negative numbers), then ``repeats`` rotated rounds."""
    if n_inputs < 1:
        raise InputError("nothing to run")
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1 (got {repeats})")
    if warmup_rounds < 0:
        raise InputError(f"--warmup-rounds must be >= 0 (got {warmup_rounds})")
    out = [ScheduledRun(round=-warmup_rounds + w, index=i) for w in range(warmup_rounds) for i in range(n_inputs)]
    for r in range(repeats):
        out += [ScheduledRun(round=r, index=(r + j) % n_inputs) for j in range(n_inputs)]
    return tuple(out)


def run_interleaved(
    inputs: Sequence[ConfigInput],
    run: RunFn,
    *,
    repeats: int,
    warmup_rounds: int = 1,
    progress: ProgressFn | None = None,
    collect_garbage: bool = True,
) -> InterleavedRuns:
    """Run ``inputs`` in ``repeats`` interleaved rounds and group the results by input.

    A run that comes back partial (the loop caught Ctrl-C), or a ``KeyboardInterrupt``,
    stops the schedule; only complete rounds are kept and ``interrupted`` is set.
    """
    plan = schedule(len(inputs), repeats, warmup_rounds)
    results: dict[int, dict[int, RunResult]] = {}
    interrupted = False
    for done, slot in enumerate(plan):
        if progress is not None:
            progress(done, len(plan), slot)
        if collect_garbage:
            gc.collect()
        try:
            result = run(inputs[slot.index].config)
        except KeyboardInterrupt:
            interrupted = True
            break
        if result.partial:
            interrupted = True
            break
        if not slot.warmup:
            results.setdefault(slot.round, {})[slot.index] = result
    if progress is not None and not interrupted:
        progress(len(plan), len(plan), plan[-1])
    complete = sorted(r for r, runs in results.items() if len(runs) == len(inputs))
    groups = tuple(
        RunGroup(
            label=item.label,
            runs=tuple(results[r][i] for r in complete),
            rounds=tuple(complete),
            source=item.source,
            in_process=True,
        )
        for i, item in enumerate(inputs)
    ) if complete else ()
    return InterleavedRuns(groups=groups, rounds_completed=len(complete), interrupted=interrupted)


__all__ = ["ConfigInput", "InterleavedRuns", "ProgressFn", "RunFn", "ScheduledRun", "run_interleaved", "schedule"]
