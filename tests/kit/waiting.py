"""Waiting for something to happen: poll with a deadline, never sleep a fixed time.

`poll` returns the first answer that satisfies a predicate and raises TimeoutError naming the
last answer; `wait_until` fails the test naming what it waited for; `until` is the asyncio form,
for tests whose fake server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["PollTimeout", "poll", "until", "wait_until"]

T = TypeVar("T")


class PollTimeout(TimeoutError):
    """`poll` gave up; ``last`` is the last answer it saw."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Call ``fetch`` until ``done(answer)``; return that answer (PollTimeout at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = fetch()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise PollTimeout(
                f"after {timeout:.0f}s, {what or 'the answer'} was {answer!r}", answer
            )
        time.sleep(interval)


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``predicate()`` until it holds; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``predicate()`` holds, yielding to the event loop (which serves meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
