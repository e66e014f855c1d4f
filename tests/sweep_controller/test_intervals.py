"""Index lists written as intervals (``"0-3,5,7-9"``) and read back."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweep_controller.intervals import format_intervals, parse_intervals


@pytest.mark.parametrize(
    ("indexes", "max_intervals", "text"),
    [
        ([], None, ""),
        ([4], None, "4"),
        ([0, 1], None, "0-1"),
        ([7, 0, 1, 2, 3, 5, 8, 9, 3], None, "0-3,5,7-9"),
        ([1, 3, 5], None, "1,3,5"),
        ([1, 3, 5], 3, "1,3,5"),
        ([1, 3, 5], 2, "1,3,..."),
        (range(0, 20, 2), 1, "0,..."),
        ([2, 3, 4, 10], 1, "2-4,..."),
    ],
)
def test_format_intervals(indexes: list[int], max_intervals: int | None, text: str) -> None:
    assert format_intervals(indexes, max_intervals=max_intervals) == text


@pytest.mark.parametrize(
    ("text", "indexes"),
    [
        (None, []),
        ("", []),
        ("5", [5]),
        ("1,3-5,7", [1, 3, 4, 5, 7]),
        (" 0-2 , 9 ", [0, 1, 2, 9]),
    ],
)
def test_parse_intervals(text: str | None, indexes: list[int]) -> None:
    assert [i for r in parse_intervals(text) for i in r] == indexes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,x", "'x' is not an index"),
        ("3-", "'3-' is not an index"),
        ("5-2", "'5-2' is not an interval"),
        ("-1", "'-1' is not an index"),
    ],
)
def test_parse_intervals_names_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_intervals(text)


@given(st.sets(st.integers(min_value=0, max_value=500)))
def test_parse_reads_back_what_format_writes(indexes: set[int]) -> None:
    ranges = parse_intervals(format_intervals(indexes))
    assert [i for r in ranges for i in r] == sorted(indexes)
    # Maximal intervals: a gap separates any two, so none could be merged.
    assert all(a.stop < b.start for a, b in itertools.pairwise(ranges))
