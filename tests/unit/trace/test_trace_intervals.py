"""Interval algebra: checked against a brute-force timeline on small integers."""

from __future__ import annotations

import numpy as np

from perfkit.trace import intervals as iv


def arr(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def covered(starts: np.ndarray, ends: np.ndarray, size: int) -> np.ndarray:
    line = np.zeros(size, dtype=bool)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        line[max(s, 0) : max(e, 0)] = True
    return line


def test_merge_unions_overlapping_touching_and_nested_intervals() -> None:
    s, e = iv.merge(arr(10, 0, 5, 20, 22, 30), arr(15, 5, 8, 25, 23, 30))
    # [0,5)+[5,8) touch, [10,15) alone, [20,25) contains [22,23), [30,30) is empty.
    assert s.tolist() == [0, 10, 20]
    assert e.tolist() == [8, 15, 25]
    assert iv.length((s, e)) == 8 + 5 + 5


def test_clip_union_intersection_and_gaps() -> None:
    a = iv.merge(arr(0, 10, 20), arr(5, 15, 25))
    assert [x.tolist() for x in iv.clip(a, 3, 22)] == [[3, 10, 20], [5, 15, 22]]
    assert iv.length(iv.clip(a, 5, 10)) == 0
    b = iv.merge(arr(4, 12), arr(11, 30))
    assert iv.length(iv.union(a, b)) == len(
        set(range(0, 5)) | set(range(4, 11)) | set(range(10, 15)) | set(range(12, 30))
    )
    assert iv.intersection_length(a, b) == 1 + 1 + 3 + 5
    g = iv.gaps(a, -5, 30)
    assert list(zip(g[0].tolist(), g[1].tolist(), strict=True)) == [
        (-5, 0),
        (5, 10),
        (15, 20),
        (25, 30),
    ]


def test_random_sets_agree_with_a_brute_force_timeline() -> None:
    rng = np.random.default_rng(7)
    size = 200
    for _ in range(200):
        n, m = rng.integers(0, 12, size=2)
        s1 = rng.integers(0, size, n)
        s2 = rng.integers(0, size, m)
        a = iv.merge(s1, np.minimum(s1 + rng.integers(0, 40, n), size))
        b = iv.merge(s2, np.minimum(s2 + rng.integers(0, 40, m), size))
        ca, cb = covered(*a, size), covered(*b, size)
        assert iv.length(a) == ca.sum()
        assert iv.length(iv.union(a, b)) == (ca | cb).sum()
        assert iv.intersection_length(a, b) == (ca & cb).sum()
        lo, hi = sorted(rng.integers(0, size, 2).tolist())
        assert iv.length(iv.clip(a, lo, hi)) == ca[lo:hi].sum()
        assert iv.length(iv.gaps(a, lo, hi)) == (~ca[lo:hi]).sum()
        # Normal form: sorted, disjoint, non-empty.
        assert np.all(a[1] > a[0]) and np.all(a[0][1:] > a[1][:-1])
