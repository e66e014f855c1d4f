"""Adaptive sweeps on Kubernetes: the pure decisions round by round, then the controller on kmock.

The decisions are plain data in and out (``reconcile`` with a ``SearchObserved``). On kmock the
controller drives a 3-round sweep to the end: the test plays the Job controller, running each
round Job's indexes through the real worker into a file store and marking the Job Complete, and
checks that the controller plans exactly the rounds ``sweepctl run`` plans for the same spec.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kit.kube import (
    NAMESPACE,
    UID,
    api_for,
    call,
    condition,
    merge_patch,
    resource,
    with_job_status,
)
from kit.paths import REPO
from kit.specs import size_warnings_only
from kubernetes import client as k8s

from sweep_controller.commands import main as cli
from sweep_controller.commands.worker import in_round
from sweep_controller.errors import TaskError
from sweep_controller.execution.adaptive import run_search
from sweep_controller.execution.layout import round_key
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.objects import Owner, build_configmap, build_job
from sweep_controller.k8s.reconcile import (
    CreateConfigMap,
    CreateJob,
    EmitEvent,
    Observed,
    UpdateStatus,
    WriteRound,
    reconcile,
)
from sweep_controller.k8s.rounds import SearchObserved, merge_indexes, rounds_to_evaluate
from sweep_controller.k8s.status import SearchStatus, SweepStatus
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import sweep_from_resource
from sweep_controller.spec.search import Evaluated, answer, plan_round
from sweep_controller.store import FileStore

NOW = datetime(2025, 1, 1, 2, 0, 0, tzinfo=UTC)
CONFIG = ControllerConfig(s3_bucket="govsim-results", s3_prefix="sweeps")
NAME = "quorum-boundary"
SMALL = {"rounds": 3, "pointsPerRound": 4, "replicates": 5, "runsPerTask": 10}
"""3 rounds of 4 points, 5 replicates: 2 tasks a round, 6 in all."""


def body(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return resource(NAME, spec={**SMALL, **spec}, status=status)


SWEEP = sweep_from_resource(body())
OWNER = Owner(NAME, UID)
CONFIGMAP = build_configmap(SWEEP, CONFIG, OWNER)


def job(round_index: int, **status: Any) -> dict[str, Any]:
    built = build_job(SWEEP, CONFIG, OWNER, round_index=round_index)
    return with_job_status(built, **status) if status else built


def complete(round_index: int) -> dict[str, Any]:
    return job(
        round_index,
        startTime="2025-01-01T00:10:00Z",
        completedIndexes="0-1",
        succeeded=2,
        conditions=[condition("Complete")],
    )


def evaluated(rounds: int, value: Any = None) -> tuple[Evaluated, ...]:
    """The points of the first ``rounds`` rounds as planned, valued by ``value(quorum)``."""
    value = value or (lambda q: 1.0 - q)
    history: list[Evaluated] = []
    for k in range(rounds):
        for point in plan_round(SWEEP.spec, k, history):
            history.append(Evaluated(len(history), point, value(point["quorum"]), 5))
    return tuple(history)


def planned(rounds: int) -> tuple[tuple[Any, ...], ...]:
    history = evaluated(rounds + 1)
    return tuple(tuple(e.params for e in history[4 * k : 4 * k + 4]) for k in range(rounds))


def running(round_index: int, done_before: int = 0, failed_before: str | None = None):
    search = SearchStatus(
        round=round_index,
        rounds=3,
        tasks_done_before=done_before,
        failed_indexes_before=failed_before,
    )
    return SweepStatus(phase="Running", start_time=NOW, search=search).to_api()


def decide(resource_body: dict[str, Any], observed: Observed) -> list[Any]:
    return reconcile(resource_body, observed, NOW, config=CONFIG)


def status_of(actions: list[Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status the actions leave: ``before`` (the resource's) with the one patch applied."""
    (update,) = [a for a in actions if isinstance(a, UpdateStatus)]
    return merge_patch(before or {}, dict(update.patch))


def kinds(actions: list[Any]) -> list[str]:
    return [type(a).__name__ for a in actions]


# --- the decisions ------------------------------------------------------------------------------


def test_round_0_is_planned_and_stored_before_its_job() -> None:
    actions = decide(body(), Observed(search=SearchObserved()))
    creates = [a for a in actions if isinstance(a, (CreateConfigMap, WriteRound, CreateJob))]
    assert kinds(creates) == ["CreateConfigMap", "WriteRound", "CreateJob"]
    _, write, create = creates
    assert write.round_index == 0 and write.uri == "s3://govsim-results/sweeps"
    assert list(write.points) == plan_round(SWEEP.spec, 0, ())
    assert create.body["metadata"]["name"] == f"{NAME}-r0"
    assert create.body["spec"]["completions"] == 2
    (container,) = create.body["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["worker", "/etc/govsim/sweep.yaml", "--round", "0"]
    status = status_of(actions)
    assert (status["phase"], status["tasksTotal"]) == ("Pending", 6)
    assert status["search"] == {"round": 0, "rounds": 3, "tasksDoneBefore": 0}
    assert status["message"].startswith(f"round 0 (of 3): Job {NAME}-r0 with 2 tasks created")


def test_a_running_round_counts_the_tasks_of_every_round() -> None:
    observed = Observed(
        job=job(
            1, startTime="2025-01-01T01:00:00Z", completedIndexes="0", failedIndexes="1", active=0
        ),
        configmap=CONFIGMAP,
        search=SearchObserved(planned(2)),
    )
    old = running(1, done_before=1, failed_before="1")
    actions = decide(body(old), observed)
    assert not [a for a in actions if isinstance(a, (WriteRound, CreateJob))]
    status = status_of(actions, old)
    # round 0: task 0 done, task 1 failed (tolerated); round 1: its index 0 (task 2) done,
    # index 1 (task 3) failed
    assert (status["tasksDone"], status["tasksFailed"]) == (2, 2)
    assert status["failedIndexes"] == "1,3"
    assert status["search"] == old["search"]  # the same round: unchanged


def test_a_finished_round_plans_and_launches_the_next() -> None:
    values = evaluated(1)
    observed = Observed(
        job=complete(0),
        configmap=CONFIGMAP,
        search=SearchObserved(planned(1), values, not_done=()),
    )
    actions = decide(body(running(0)), observed)
    status = status_of(actions, running(0))
    assert kinds([a for a in actions if not isinstance(a, UpdateStatus)]) == [
        "WriteRound",
        "CreateJob",
        "EmitEvent",
    ]
    write, create, event = actions[:3]
    assert write.round_index == 1 and list(write.points) == plan_round(SWEEP.spec, 1, values)
    assert create.body["metadata"]["name"] == f"{NAME}-r1"
    assert create.body["metadata"]["labels"]["govsim.io/round"] == "1"
    assert (event.reason, event.type.value) == ("RoundPlanned", "Normal")
    assert (status["phase"], status["tasksDone"], status["tasksFailed"]) == ("Running", 2, 0)
    best = answer(SWEEP.spec, values).best
    assert best is not None
    assert status["search"]["round"] == 1 and status["search"]["tasksDoneBefore"] == 2
    assert status["search"]["bestValue"] == best.value
    assert status["search"]["bestPoint"] == f"quorum={best.params['quorum']:.6g}"
    assert "round 1 planned" in status["message"]


def test_a_finished_round_waits_for_its_values() -> None:
    observed = Observed(job=complete(0), configmap=CONFIGMAP, search=SearchObserved(planned(1)))
    actions = decide(body(running(0)), observed)
    assert not [a for a in actions if isinstance(a, (WriteRound, CreateJob))]
    status = status_of(actions, running(0))
    assert (status["phase"], "completionTime" in status) == ("Running", False)
    assert "reading its results" in status["message"]


def test_the_last_round_finishes_the_sweep_with_the_answer() -> None:
    values = evaluated(3, lambda q: min(1.0, max(0.0, 1.6 - 2 * q)))  # crosses 0.5 at 0.55
    observed = Observed(
        job=complete(2), configmap=CONFIGMAP, search=SearchObserved(planned(3), values)
    )
    actions = decide(body(running(2, done_before=4)), observed)
    assert not [a for a in actions if isinstance(a, (WriteRound, CreateJob))]
    status = status_of(actions, running(2, done_before=4))
    assert (status["phase"], status["tasksDone"], status["tasksTotal"]) == ("Succeeded", 6, 6)
    found = answer(SWEEP.spec, values)
    assert found.boundary is not None
    assert status["search"]["boundary"] == found.boundary.estimate
    assert status["search"]["boundary"] == pytest.approx(0.55, abs=0.02)
    assert status["message"].startswith("3 rounds done: best mean passed ")
    events = [a for a in actions if isinstance(a, EmitEvent)]
    assert [e.reason for e in events] == ["Succeeded"]


def test_a_failed_round_fails_the_sweep() -> None:
    failed = job(
        1,
        startTime="2025-01-01T01:00:00Z",
        failedIndexes="0-1",
        conditions=[condition("Failed", "FailedIndexes", "Job has failed indexes")],
    )
    observed = Observed(
        job=failed, configmap=CONFIGMAP, search=SearchObserved(planned(2), evaluated(2))
    )
    actions = decide(body(running(1, done_before=2)), observed)
    assert not [a for a in actions if isinstance(a, (WriteRound, CreateJob))]
    status = status_of(actions, running(1, done_before=2))
    assert (status["phase"], status["failedIndexes"]) == ("Failed", "2-3")
    assert status["message"].startswith("round 1 (of 3): FailedIndexes")


def test_a_planned_round_without_its_job_gets_it_and_the_status_catches_up() -> None:
    """The controller stored round 1 and stopped before creating its Job."""
    observed = Observed(
        configmap=CONFIGMAP,
        search=SearchObserved(planned(2), evaluated(1), not_done=(1,)),
    )
    actions = decide(body(running(0)), observed)
    creates = [a for a in actions if isinstance(a, (WriteRound, CreateJob))]
    assert kinds(creates) == ["CreateJob"]  # round 1's points are stored already
    assert creates[0].body["metadata"]["name"] == f"{NAME}-r1"
    status = status_of(actions, running(0))
    assert status["search"]["round"] == 1
    assert (status["search"]["tasksDoneBefore"], status["search"]["failedIndexesBefore"]) == (
        1,
        "1",
    )
    assert (status["tasksDone"], status["tasksFailed"], status["failedIndexes"]) == (1, 1, "1")


def test_another_sweeps_results_fail_the_sweep() -> None:
    observed = Observed(search=SearchObserved(error="s3://x/quorum-boundary/rounds/0000.json ..."))
    actions = decide(body(), observed)
    assert not [a for a in actions if isinstance(a, (WriteRound, CreateJob, CreateConfigMap))]
    status = status_of(actions)
    assert (status["phase"], status["conditions"][2]["reason"]) == ("Failed", "OutputConflict")


def test_a_finished_sweep_is_left_alone() -> None:
    done = SweepStatus(phase="Succeeded", completion_time=NOW).to_api()
    assert decide(body(done), Observed(search=SearchObserved(planned(3)))) == []


@pytest.mark.parametrize(
    ("planned_rounds", "finished", "status_round", "expected"),
    [
        (0, False, None, 0),  # nothing planned: nothing to read
        (2, True, 1, 2),  # the latest round's Job finished: read every round
        (2, False, 1, 0),  # a round runs and the status knows it: read nothing
        (2, False, 0, 1),  # the status lags: read the rounds before the latest
        (2, False, None, 1),
    ],
)
def test_rounds_to_evaluate(planned_rounds: int, finished: bool, status_round: int | None,
                            expected: int) -> None:  # fmt: skip
    latest = complete(planned_rounds - 1) if finished else None
    search = None if status_round is None else SearchStatus(round=status_round, rounds=3)
    assert rounds_to_evaluate(planned_rounds, latest, SweepStatus(search=search)) == expected


@pytest.mark.parametrize(
    ("before", "current", "offset", "expected"),
    [
        (None, None, 4, None),
        ("1", "0-1", 4, "1,4-5"),
        (None, "3", 10, "13"),
        ("0-2", None, 6, "0-2"),
    ],
)
def test_merge_indexes(before: str | None, current: str | None, offset: int, expected: str | None):
    assert merge_indexes(before, current, offset) == expected


# --- the controller on the fake API server ------------------------------------------------------


@pytest.mark.asyncio
async def test_controller_runs_the_rounds_and_plans_what_sweepctl_run_plans(
    kmock: Any, tmp_path: Path
) -> None:
    kmock.resources["batch/v1/jobs"] = kmock.ResourceInfo(kind="Job", namespaced=True)
    kmock.resources["v1/configmaps"] = kmock.ResourceInfo(kind="ConfigMap", namespaced=True)
    store = FileStore(tmp_path / "cluster")
    opened: list[str] = []

    def stores(uri: str) -> FileStore:
        opened.append(uri)
        return store

    api = api_for(kmock)
    controller = Controller(api, CONFIG, clock=lambda: NOW, stores=stores)
    kmock.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, NAME] = body()
    batch = k8s.BatchV1Api(api.batch.api_client)

    for k in range(3):
        await call(controller.reconcile_named, NAMESPACE, NAME)
        live = await call(api.read_job, NAMESPACE, f"{NAME}-r{k}")
        assert live is not None, f"round {k}'s Job was not created"
        assert live["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--round", str(k)]
        sweep = sweep_from_resource(await call(api.read_sweep, NAMESPACE, NAME))
        # the Job controller's part: each index runs `sweepctl worker --round k` (its task)
        for index in range(live["spec"]["completions"]):
            task = in_round(sweep, k, index)
            attempt = await call(execute_task, TaskContext.open(sweep, store=store), task)
            assert attempt.outcome is TaskOutcome.SUCCEEDED, attempt.error
        done = {
            "status": {
                "startTime": "2025-01-01T00:10:00Z",
                "completedIndexes": "0-1",
                "succeeded": 2,
                "conditions": [condition("Complete")],
            }
        }
        await call(batch.patch_namespaced_job_status, f"{NAME}-r{k}", NAMESPACE, done)
        status = (await call(api.read_sweep, NAMESPACE, NAME))["status"]
        assert status["search"]["round"] == k
    await call(controller.reconcile_named, NAMESPACE, NAME)
    status = (await call(api.read_sweep, NAMESPACE, NAME))["status"]
    assert (status["phase"], status["tasksDone"], status["tasksTotal"]) == ("Succeeded", 6, 6)
    assert status["search"]["round"] == 2 and "bestPoint" in status["search"]
    assert set(opened) == {"s3://govsim-results/sweeps"}
    assert await call(api.read_job, NAMESPACE, f"{NAME}-r3") is None

    # The same spec run by `sweepctl run` plans the same rounds and finds the same answer.
    local = FileStore(tmp_path / "local")
    summary = run_search(sweep, store=local, workers=1, progress=False, handle_signals=False,
                         out=io.StringIO())  # fmt: skip
    for k in range(3):
        assert store.get_bytes(round_key(NAME, k)) == local.get_bytes(round_key(NAME, k))
    assert summary.answer.best is not None
    assert status["search"]["bestValue"] == summary.answer.best.value
    if summary.answer.boundary is not None:
        assert status["search"]["boundary"] == summary.answer.boundary.estimate


# --- sweepctl render and sweepctl worker --round ------------------------------------------------


def test_render_prints_the_round_0_job_and_says_who_creates_the_others(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ControllerConfig.ENV.values():
        monkeypatch.delenv(name, raising=False)
    example = REPO / "examples" / "quorum-boundary.yaml"
    code = cli.main(["render", str(example), "--output-uri", "s3://results/sweeps"])
    out, err = capsys.readouterr()
    assert code == 0
    note = (
        "sweep quorum-boundary is adaptive (method optuna): this is round 0 of 6 (Job "
        "quorum-boundary-r0, 2 tasks); the controller creates the Jobs of the later rounds "
        "(quorum-boundary-r1 .. quorum-boundary-r5), each once the round before it has finished "
        "and its points are planned from the results in the store"
    )
    assert out.startswith(f"# {note}\n---\n")
    *size, last = err.splitlines()
    assert last == f"sweepctl render: {note}" and size_warnings_only("\n".join(size))
    configmap, job = yaml.safe_load_all(out)
    assert configmap["kind"] == "ConfigMap" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "quorum-boundary-r0"
    assert job["metadata"]["labels"]["govsim.io/round"] == "0"
    assert job["spec"]["completionMode"] == "Indexed"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (2, 2)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["worker", "/etc/govsim/sweep.yaml", "--round", "0"]
    assert kubernetes_validate.validate(job, "1.31.0", strict=True)
    # what the controller creates for round 0 is what render prints
    assert job == build_job(sweep_from_resource(yaml.safe_load(example.read_text())),
                            CONFIG.model_copy(update={"s3_bucket": "results"}))  # fmt: skip


def test_render_of_other_sweeps_has_no_rounds_note(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["render", str(REPO / "examples" / "zipped.yaml"), "--output-uri", "s3://results"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and size_warnings_only(err) and out.startswith("---\n")


@pytest.mark.parametrize(
    ("round_index", "index", "expected"),
    [(None, 5, 5), (0, 1, 1), (1, 0, 2), (2, 1, 5)],
)
def test_worker_round_index_is_a_task_of_that_round(
    round_index: int | None, index: int, expected: int
) -> None:
    assert in_round(SWEEP, round_index, index) == expected


@pytest.mark.parametrize(
    ("sweep_body", "round_index", "index", "message"),
    [
        (body(), 3, 0, "--round: 3 is outside [0, 2]"),
        (body(), 1, 2, "index 2 is outside [0, 1] (a round of sweep quorum-boundary has 2 tasks)"),
        (resource(), 0, 0, "--round: only for sweeps of method optuna, not grid"),
    ],
)
def test_worker_round_errors(
    sweep_body: dict[str, Any], round_index: int, index: int, message: str
) -> None:
    with pytest.raises(TaskError) as info:
        in_round(sweep_from_resource(sweep_body), round_index, index)
    assert str(info.value) == message
