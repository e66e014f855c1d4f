"""``sweepctl list``'s AGE column: the same rounding as ``kubectl get`` (k8s.io/apimachinery's
``duration.HumanDuration``): more precision while an object is young, less as it ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sweep_controller.commands.listing import age

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=3, seconds=12), "3m12s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(hours=2, minutes=59), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=5, minutes=7), "5h7m"),
        (timedelta(hours=8, minutes=7), "8h"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=9, hours=3), "9d"),
        (timedelta(days=800), "2y"),
        (timedelta(seconds=-30), "0s"),  # a clock behind the API server's
    ],
)
def test_age_rounds_like_kubectl(ago: timedelta, shown: str) -> None:
    created = (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert age(created, NOW) == shown


@pytest.mark.parametrize(("created", "shown"), [(None, "<unknown>"), ("yesterday", "<invalid>")])
def test_age_of_a_missing_or_bad_timestamp(created: str | None, shown: str) -> None:
    assert age(created, NOW) == shown
