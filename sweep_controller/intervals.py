"""Sets of task or run indexes written as intervals: ``"0-3,5,7-9"``.

Sweeps have up to 10^5 tasks and far more runs, so a list of indexes in a message, a status
table or a Kubernetes Job's ``status.failedIndexes`` is written as sorted, comma-separated
intervals (Kubernetes' own format: ``low-high`` inclusive, a single index alone). One formatter
and one parser keep every place that shows or reads such a list in the same notation. Pure and
dependency-free.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["format_gaps", "format_intervals", "parse_intervals"]


def _runs(indexes: Iterable[int]) -> list[range]:
    """The distinct ``indexes`` as maximal runs of consecutive integers, in order."""
    runs: list[range] = []
    for index in sorted(set(indexes)):
        if runs and runs[-1].stop == index:
            runs[-1] = range(runs[-1].start, index + 1)
        else:
            runs.append(range(index, index + 1))
    return runs


def format_intervals(indexes: Iterable[int], *, max_intervals: int | None = None) -> str:
    """``indexes`` as ``"0-3,5,7-9"`` (sorted, repeats dropped); ``""`` when empty.

    With ``max_intervals``, only the first that many intervals are written, then ``,...``.

    >>> format_intervals([7, 0, 1, 2, 3, 5, 8, 9, 3])
    '0-3,5,7-9'
    >>> format_intervals(range(0, 20, 2), max_intervals=3)
    '0,2,4,...'
    """
    runs = _runs(indexes)
    shown = runs if max_intervals is None else runs[:max_intervals]
    parts = [str(r.start) if len(r) == 1 else f"{r.start}-{r.stop - 1}" for r in shown]
    if len(shown) < len(runs):
        parts.append("...")
    return ",".join(parts)


def format_gaps(present: Iterable[int], n: int, *, max_intervals: int | None = None) -> str:
    """The indexes of ``[0, n)`` that are not in ``present``, as ``format_intervals`` writes them.

    The gaps are found between the present indexes, so the cost grows with ``present``, not with
    ``n`` (the pending tasks of a sweep of 10^12 tasks).

    >>> format_gaps([2, 3, 7], 10)
    '0-1,4-6,8-9'
    >>> format_gaps([], 10**12, max_intervals=1)
    '0-999999999999'
    """
    parts: list[str] = []
    start = 0
    for index in [*sorted({i for i in present if 0 <= i < n}), n]:
        if index > start:
            if max_intervals is not None and len(parts) == max_intervals:
                parts.append("...")
                break
            parts.append(str(start) if index == start + 1 else f"{start}-{index - 1}")
        start = index + 1
    return ",".join(parts)


def parse_intervals(text: str | None) -> tuple[range, ...]:
    """The intervals of a list such as ``"1,3-5,7"``; empty or None gives none.

    Raises ``ValueError`` naming the part that is not an index or a ``low-high`` interval.

    >>> [list(r) for r in parse_intervals("1,3-5")]
    [[1], [3, 4, 5]]
    >>> sum(len(r) for r in parse_intervals("1,3-5,7"))
    5
    """
    ranges: list[range] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            start, stop = int(low), int(high if dash else low) + 1
        except ValueError:
            raise ValueError(
                f"intervals: {part!r} is not an index or a low-high interval"
            ) from None
        if start < 0 or stop <= start:
            raise ValueError(
                f"intervals: {part!r} is not an interval of indexes (0 <= low <= high)"
            )
        ranges.append(range(start, stop))
    return tuple(ranges)
