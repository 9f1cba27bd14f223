"""Interval algebra on integer nanoseconds, vectorised with numpy.

An *interval set* is a pair of int64 arrays ``(starts, ends)`` of half-open intervals
``[start, end)``. :func:`merge` turns any intervals into a *normal* set: sorted,
disjoint, non-empty. All other functions take and return normal sets, so lengths add
and subtract exactly (integers, no rounding).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
Intervals = tuple[IntArray, IntArray]

_EMPTY = np.zeros(0, dtype=np.int64)


def empty() -> Intervals:
    return _EMPTY, _EMPTY


def merge(starts: IntArray, ends: IntArray, *, owned: bool = False) -> Intervals:
    """The union of arbitrary intervals as a normal set (touching intervals merge).

    ``owned=True`` lets the function reuse ``starts``/``ends`` as scratch space (the
    caller's temporaries): merging millions of intervals then needs about one extra array.
    """
    if owned:
        return merge_owned([starts, ends])
    out_starts, out_ends = merge_owned([starts, ends.copy()])
    return (out_starts.copy() if out_starts is starts else out_starts), out_ends


def merge_owned(parts: list[IntArray]) -> Intervals:
    """:func:`merge` of ``parts = [starts, ends]``, which it empties: with no reference
    left elsewhere, each input is freed as soon as its output is made, and ``ends`` is
    used as scratch space. Peak memory: the inputs, one byte per interval, and the output.
    """
    e = parts.pop()
    s = parts.pop()
    keep = e > s
    if not keep.all():
        s, e = s[keep], e[keep]
    del keep
    if s.size == 0:
        return empty()
    if s.size > 1 and not bool((s[1:] >= s[:-1]).all()):
        order = np.argsort(s, kind="stable")
        s = s[order]
        e = e[order]
        del order
    running_end = np.maximum.accumulate(e, out=e)
    del e
    # new[i]: interval i starts a run; a run ends just before the next one starts.
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    np.greater(s[1:], running_end[:-1], out=new[1:])
    if new.all():  # nothing overlaps: the inputs are the output
        return s.astype(np.int64, copy=False), running_end.astype(np.int64, copy=False)
    out_starts = s[new].astype(np.int64, copy=False)
    del s
    new[:-1] = new[1:]
    new[-1] = True
    return out_starts, running_end[new].astype(np.int64, copy=False)


def length(iv: Intervals) -> int:
    """Total length of a normal set."""
    return int((iv[1] - iv[0]).sum())


def clip(iv: Intervals, lo: int, hi: int) -> Intervals:
    """A normal set restricted to ``[lo, hi)`` (uses binary search: O(log n + k))."""
    s, e = iv
    if s.size == 0 or hi <= lo:
        return empty()
    first = int(np.searchsorted(e, lo, side="right"))
    last = int(np.searchsorted(s, hi, side="left"))
    if first >= last:
        return empty()
    cs = np.maximum(s[first:last], lo)
    ce = np.minimum(e[first:last], hi)
    keep = ce > cs
    return cs[keep], ce[keep]


def union(a: Intervals, b: Intervals) -> Intervals:
    """Union of two normal sets."""
    if a[0].size == 0:
        return b
    if b[0].size == 0:
        return a
    return merge(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))


def intersection_length(a: Intervals, b: Intervals) -> int:
    """``|a ∩ b|`` of two normal sets, as ``|a| + |b| - |a ∪ b|``."""
    if a[0].size == 0 or b[0].size == 0:
        return 0
    return length(a) + length(b) - length(union(a, b))


def gaps(iv: Intervals, lo: int, hi: int) -> Intervals:
    """The complement of a normal set within ``[lo, hi)``."""
    s, e = clip(iv, lo, hi)
    starts = np.concatenate([[lo], e]).astype(np.int64)
    ends = np.concatenate([s, [hi]]).astype(np.int64)
    keep = ends > starts
    return starts[keep], ends[keep]


def _covered(iv: Intervals, points: IntArray) -> npt.NDArray[np.bool_]:
    """Whether each point lies in the normal set."""
    s, e = iv
    idx = np.searchsorted(s, points, side="right") - 1
    return (idx >= 0) & (points < e[np.maximum(idx, 0)]) if s.size else np.zeros(points.shape, bool)


def difference(a: Intervals, b: Intervals) -> Intervals:
    """``a \\ b`` of two normal sets (a normal set)."""
    if a[0].size == 0 or b[0].size == 0:
        return a
    points = np.unique(np.concatenate([a[0], a[1], b[0], b[1]]))
    lo, hi = points[:-1], points[1:]
    keep = _covered(a, lo) & ~_covered(b, lo)
    return merge(lo[keep], hi[keep])


__all__ = [
    "Intervals",
    "clip",
    "difference",
    "empty",
    "gaps",
    "intersection_length",
    "length",
    "merge",
    "merge_owned",
    "union",
]
