"""Retries of transient storage failures, with capped exponential backoff and full jitter.

Every store routes each remote call through one `Retrier`, so the retry policy lives in one place:
only `TransientStorageError` is retried, a `PermanentStorageError` (or any other exception) passes
through at once. The sleep function and the jitter source are injected, so tests never really sleep,
and the retrier counts its retries (`retries`, plus an optional `on_retry` hook) for metrics.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sweep_controller.errors import TransientStorageError

__all__ = ["Retrier", "RetryEvent", "RetryPolicy"]

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: attempt n (from 1) waits up to base * 2**(n-1), capped."""

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts: {self.max_attempts} is below the minimum 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(
                f"base_delay, max_delay: {self.base_delay}, {self.max_delay} must be >= 0"
            )

    def ceiling(self, attempt: int) -> float:
        """Return the longest wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen: which operation, which attempt failed, the wait and the cause."""

    operation: str
    attempt: int
    delay: float
    error: TransientStorageError


@dataclass
class Retrier:
    """Run a callable, retrying `TransientStorageError` with full-jitter backoff; counts retries."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    on_retry: Callable[[RetryEvent], None] | None = None
    retries: int = 0

    def call(self, operation: str, fn: Callable[[], T]) -> T:
        """Return fn(); on TransientStorageError wait and try again, up to policy.max_attempts."""
        attempt = 1
        while True:
            try:
                return fn()
            except TransientStorageError as exc:
                if attempt >= self.policy.max_attempts:
                    if attempt > 1:  # same class: the type carries the policy (unreachable)
                        raise type(exc)(f"{exc} (gave up after {attempt} attempts)") from exc
                    raise
                delay = self.rng.uniform(0.0, self.policy.ceiling(attempt))
                self.retries += 1
                log.warning(
                    "%s: attempt %d failed, retrying in %.2fs: %s", operation, attempt, delay, exc
                )
                if self.on_retry is not None:
                    self.on_retry(RetryEvent(operation, attempt, delay, exc))
                self.sleep(delay)
                attempt += 1
