"""The interleaved runner, with an injected fake ``run`` (no torch)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from compare_synthetic import make_run

from perfkit.compare.interleave import (
    ConfigInput,
    ScheduledRun,
    cycle_length,
    run_interleaved,
    schedule,
)
from perfkit.errors import InputError
from perfkit.results import RunResult


def test_schedule_alternates_order_and_starts_with_warmup() -> None:
    plan = schedule(2, repeats=3, warmup_rounds=1)
    assert [(s.round, s.index) for s in plan] == [(-1, 0), (-1, 1), (0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]
    assert [s.warmup for s in plan[:3]] == [True, True, False]


def rounds_of(plan: tuple[ScheduledRun, ...]) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for slot in plan:
        out.setdefault(slot.round, []).append(slot.index)
    return [out[r] for r in sorted(out)]


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7])
def test_schedule_balances_slots_and_predecessors(k: int) -> None:
    """Over a full cycle, each input runs in each slot equally often and immediately
    follows each other input equally often within a round (first-order carry-over)."""
    cycle = cycle_length(k)
    for cycles in (1, 3):
        rounds = rounds_of(schedule(k, repeats=cycles * cycle, warmup_rounds=0))
        assert all(sorted(order) == list(range(k)) for order in rounds)  # every input once a round
        slots = Counter((slot, i) for order in rounds for slot, i in enumerate(order))
        assert len(slots) == k * k and set(slots.values()) == {cycles * cycle // k}
        pairs = Counter((order[j], order[j + 1]) for order in rounds for j in range(k - 1))
        assert len(pairs) == k * (k - 1), "every ordered pair of neighbours occurs"
        assert len(set(pairs.values())) == 1, f"unbalanced neighbours: {pairs}"


def test_plain_rotation_would_not_balance_neighbours() -> None:
    """The old rotation (A B C, B C A, C A B) as a control: A precedes B, B never precedes A."""
    rotation = [[(r + j) % 3 for j in range(3)] for r in range(39)]
    pairs = Counter((order[j], order[j + 1]) for order in rotation for j in range(2))
    assert pairs[(0, 1)] == 26 and pairs[(1, 0)] == 0
    rounds = rounds_of(schedule(3, repeats=36, warmup_rounds=0))
    balanced = Counter((order[j], order[j + 1]) for order in rounds for j in range(2))
    assert set(balanced.values()) == {12}


@pytest.mark.parametrize(("repeats", "warmup", "message"), [(0, 1, "--repeats must be at least 1"), (2, -1, "--warmup-rounds")])
def test_schedule_rejects_bad_counts(repeats: int, warmup: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        schedule(2, repeats=repeats, warmup_rounds=warmup)


class FakeRunner:
    """Records the call order; returns a run whose step time encodes the call number."""

    def __init__(self, partial_at: int | None = None, interrupt_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.partial_at = partial_at
        self.interrupt_at = interrupt_at

    def __call__(self, config: Any) -> RunResult:
        self.calls.append(str(config))
        n = len(self.calls)
        if n == self.interrupt_at:
            raise KeyboardInterrupt
        return make_run([float(n)] * 3, name=str(config), partial=n == self.partial_at)


def inputs() -> list[ConfigInput]:
    return [ConfigInput("a", "cfg-a", "a.yaml"), ConfigInput("b", "cfg-b", "b.yaml")]  # type: ignore[arg-type]


def test_runs_are_grouped_by_input_and_round() -> None:
    fake = FakeRunner()
    out = run_interleaved(inputs(), fake, repeats=3, warmup_rounds=1, collect_garbage=False)
    assert fake.calls == ["cfg-a", "cfg-b", "cfg-a", "cfg-b", "cfg-b", "cfg-a", "cfg-a", "cfg-b"]
    a, b = out.groups
    assert (a.label, b.label) == ("a", "b")
    assert a.rounds == b.rounds == (0, 1, 2)
    assert a.in_process and a.source == "a.yaml"
    # warm-up runs (calls 1 and 2) are discarded; round 1 ran b first
    assert [r.steps[-1].step_host_ms for r in a.runs] == [3.0, 6.0, 7.0]
    assert [r.steps[-1].step_host_ms for r in b.runs] == [4.0, 5.0, 8.0]
    assert out.rounds_completed == 3 and not out.interrupted


def test_progress_reports_every_slot() -> None:
    seen: list[tuple[int, int]] = []
    run_interleaved(inputs(), FakeRunner(), repeats=2, warmup_rounds=0, progress=lambda d, t, s: seen.append((d, t)), collect_garbage=False)
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_partial_run_stops_and_keeps_complete_rounds() -> None:
    out = run_interleaved(inputs(), FakeRunner(partial_at=6), repeats=3, warmup_rounds=1, collect_garbage=False)
    assert out.interrupted and out.rounds_completed == 1
    assert all(len(g.runs) == 1 for g in out.groups)


def test_keyboard_interrupt_before_a_round_completes() -> None:
    out = run_interleaved(inputs(), FakeRunner(interrupt_at=2), repeats=3, warmup_rounds=0, collect_garbage=False)
    assert out.interrupted and out.groups == () and out.rounds_completed == 0
