"""The task outcome vocabulary: which outcomes leave a task done, and how metrics count each."""

from __future__ import annotations

import pytest

from sweep_controller.outcomes import REPORTED_TASK_OUTCOMES, TaskOutcome


@pytest.mark.parametrize(
    ("outcome", "done", "reported"),
    [
        (TaskOutcome.SUCCEEDED, True, "succeeded"),
        (TaskOutcome.SKIPPED, True, "skipped"),
        (TaskOutcome.FAILED, False, "failed"),
        (TaskOutcome.INTERRUPTED, False, "failed"),
    ],
)
def test_done_and_reported(outcome: TaskOutcome, done: bool, reported: str) -> None:
    assert outcome.done is done
    assert outcome.reported == reported
    assert outcome.reported in REPORTED_TASK_OUTCOMES


def test_metrics_count_exactly_the_status_label_values_of_the_dashboard() -> None:
    assert [o.value for o in REPORTED_TASK_OUTCOMES] == ["succeeded", "failed", "skipped"]
