"""The one retry helper: what it retries, how long it waits, when it gives up, what it counts."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from sweep_controller.errors import PermanentStorageError, TransientStorageError
from sweep_controller.store import Retrier, RetryEvent, RetryPolicy


def failing(errors: list[Exception], result: str = "ok") -> Callable[[], str]:
    """Return a callable that raises the given errors in turn, then returns `result`."""
    pending = list(errors)

    def call() -> str:
        if pending:
            raise pending.pop(0)
        return result

    return call


def make(max_attempts: int = 4, seed: int = 0) -> tuple[Retrier, list[float], list[RetryEvent]]:
    sleeps: list[float] = []
    events: list[RetryEvent] = []
    retrier = Retrier(
        RetryPolicy(max_attempts=max_attempts, base_delay=0.5, max_delay=3.0),
        sleep=sleeps.append,
        rng=random.Random(seed),
        on_retry=events.append,
    )
    return retrier, sleeps, events


def test_success_needs_no_wait() -> None:
    retrier, sleeps, events = make()
    assert retrier.call("get", failing([])) == "ok"
    assert (sleeps, events, retrier.retries) == ([], [], 0)


def test_transient_errors_are_retried_with_jittered_capped_backoff() -> None:
    retrier, sleeps, events = make(max_attempts=4)
    errors: list[Exception] = [TransientStorageError(f"503 #{i}") for i in range(3)]
    assert retrier.call("put", failing(errors)) == "ok"
    assert retrier.retries == 3
    assert [e.attempt for e in events] == [1, 2, 3]
    assert [e.operation for e in events] == ["put"] * 3
    assert [e.error for e in events] == errors
    assert [e.delay for e in events] == sleeps
    for delay, ceiling in zip(sleeps, [0.5, 1.0, 2.0], strict=True):
        assert 0.0 <= delay <= ceiling


def test_retry_count_accumulates_across_calls() -> None:
    retrier, _, _ = make()
    retrier.call("a", failing([TransientStorageError("x")]))
    retrier.call("b", failing([TransientStorageError("y"), TransientStorageError("z")]))
    assert retrier.retries == 3


def test_gives_up_after_max_attempts_with_a_transient_error() -> None:
    retrier, sleeps, _ = make(max_attempts=3)
    last = TransientStorageError("s3://b/k: put failed: SlowDown (HTTP 503)")
    errors: list[Exception] = [TransientStorageError("1"), TransientStorageError("2"), last]
    with pytest.raises(TransientStorageError, match=r"SlowDown .*gave up after 3 attempts") as info:
        retrier.call("put", failing([*errors, TransientStorageError("never reached")]))
    assert info.value.__cause__ is last
    assert len(sleeps) == 2
    assert retrier.retries == 2


def test_single_attempt_policy_raises_the_original_error() -> None:
    retrier, sleeps, _ = make(max_attempts=1)
    error = TransientStorageError("once")
    with pytest.raises(TransientStorageError) as info:
        retrier.call("get", failing([error]))
    assert info.value is error
    assert sleeps == []


@pytest.mark.parametrize(
    "error", [PermanentStorageError("403 AccessDenied"), ValueError("bug"), KeyError("k")]
)
def test_anything_but_transient_passes_through_at_once(error: Exception) -> None:
    retrier, sleeps, _ = make()
    with pytest.raises(type(error)) as info:
        retrier.call("get", failing([error]))
    assert info.value is error
    assert (sleeps, retrier.retries) == ([], 0)


def test_same_seed_same_waits_other_seed_other_waits() -> None:
    def waits(seed: int) -> list[float]:
        retrier, sleeps, _ = make(max_attempts=5, seed=seed)
        retrier.call("x", failing([TransientStorageError("t") for _ in range(4)]))
        return sleeps

    assert waits(1) == waits(1)
    assert waits(1) != waits(2)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 10.0), (30, 10.0)]
)
def test_default_policy_ceilings_double_then_cap(attempt: int, ceiling: float) -> None:
    assert RetryPolicy().ceiling(attempt) == pytest.approx(ceiling)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -0.1}])
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"max_attempts|delay"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
