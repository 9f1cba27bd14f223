"""Run several experiments interleaved, round by round, so that drift hits them alike.

``perfkit compare a.yaml b.yaml --repeats N`` runs N rounds; each round runs every input
once, back to back. A machine that slows down (heat, a neighbour's job, frequency
scaling) then slows every input of that round, and the paired test of
:mod:`perfkit.compare.significance` compares inputs *within* rounds.

Two refinements (cheap insurance; the rank test would absorb a single odd round, but not a
bias that hits every round the same way):

* **Balanced order (a Williams design).** A fixed order would hand every round's second
  slot the same advantage or penalty (warm caches, a heated CPU, the allocator state the
  first run left) and bias every round the same way. The order changes from round to
  round so that, over a full cycle of rounds (:func:`cycle_length`), every input runs in
  every slot equally often *and* every input immediately follows every other input
  equally often within a round (a carry-over from one run into the next then hits every
  pair alike). Two inputs: A B, B A, A B, … (cycle 2). With ``k`` inputs round ``r`` is
  row ``r`` of a Williams square: the base row ``0, 1, k-1, 2, k-2, …`` shifted by ``r``
  (mod ``k``), cycle ``k`` for even ``k``; for odd ``k`` rounds alternate a shifted row
  and its reverse (shift ``r // 2``, reversed on odd rounds), cycle ``2k``. A plain
  rotation (A B C, B C A, C A B) balances slots but not neighbours: A would precede B in
  two of three rounds and B never precede A. Only within-round neighbours are balanced:
  the last run of one round and the first of the next are not paired by the test.
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


def williams_row(n_inputs: int) -> tuple[int, ...]:
    """The base row ``0, 1, k-1, 2, k-2, …`` of a Williams square for ``k`` inputs."""
    out = [0]
    low, high = 1, n_inputs - 1
    while len(out) < n_inputs:
        out.append(low)
        low += 1
        if len(out) < n_inputs:
            out.append(high)
            high -= 1
    return tuple(out)


def cycle_length(n_inputs: int) -> int:
    """Rounds after which the order is balanced: ``k`` for even ``k``, ``2k`` for odd ``k > 1``."""
    if n_inputs <= 1:
        return 1
    return n_inputs if n_inputs % 2 == 0 else 2 * n_inputs


def round_order(n_inputs: int, round_index: int) -> tuple[int, ...]:
    """The input order of round ``round_index`` (≥ 0) of the Williams design (module doc)."""
    base = williams_row(n_inputs)
    if n_inputs % 2 == 0:
        return tuple((x + round_index) % n_inputs for x in base)
    row = tuple((x + round_index // 2) % n_inputs for x in base)
    return row[::-1] if round_index % 2 else row


def schedule(n_inputs: int, repeats: int, warmup_rounds: int = 1) -> tuple[ScheduledRun, ...]:
    """The run order: warm-up rounds (negative numbers), then ``repeats`` balanced rounds."""
    if n_inputs < 1:
        raise InputError("nothing to run")
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1 (got {repeats})")
    if warmup_rounds < 0:
        raise InputError(f"--warmup-rounds must be >= 0 (got {warmup_rounds})")
    out = [ScheduledRun(round=-warmup_rounds + w, index=i) for w in range(warmup_rounds) for i in range(n_inputs)]
    for r in range(repeats):
        out += [ScheduledRun(round=r, index=i) for i in round_order(n_inputs, r)]
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


__all__ = [
    "ConfigInput",
    "InterleavedRuns",
    "ProgressFn",
    "RunFn",
    "ScheduledRun",
    "cycle_length",
    "round_order",
    "run_interleaved",
    "schedule",
    "williams_row",
]
