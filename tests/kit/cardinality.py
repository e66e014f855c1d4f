"""Drive what a sweep's workers push, without simulating: the metrics side of a large sweep.

``drive_sweep`` runs ``tasks`` tasks in waves of ``parallelism`` through the real worker code
paths: a fresh ``WorkerMetrics`` per task, pushed through a ``SlotReporter`` (the slot claimed in
a real store, its totals recorded there, ``push_task_metrics``), exactly as ``execute_task``
pushes. Every task of a wave pushes once it holds its task (``begin``), records its runs, pushes
again (a periodic push), finishes and makes its final push, which releases its slot. While a
wave runs (after its periodic pushes), ``on_running`` is called: the most groups, each holding
its run families, exist then.

With ``store=None`` the tasks push the way workers did before slots: one group per task index,
``{job, sweep_namespace, sweep, index}``, every group kept. Only the comparison in the test and
the bench uses that; no product code pushes so any more.

``measure_sweep`` counts what a driven sweep costs Prometheus, both ways the question is asked:
the series it holds for the sweep while the last wave runs (``count({sweep="..."})``, the most
it ever holds at once), and the series its head block gained while the sweep was driven
(``/api/v1/status/tsdb`` ``headStats.numSeries`` before and after: every series ever scraped
stays in the head until head compaction, stale or not). The bench
(``bench/metrics_cardinality.py``) and the acceptance test share it.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import delete_from_gateway, push_to_gateway
from prometheus_client.parser import text_string_to_metric_families

from kit.promstack import PrometheusAPI
from sweep_controller.execution.lease import Holder
from sweep_controller.execution.slot import SlotReporter
from sweep_controller.metrics import NAMESPACE_LABEL, WORKER_JOB, WorkerMetrics
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.store import Store

__all__ = [
    "DrivenSweep",
    "SeriesCount",
    "delete_index_groups",
    "drive_sweep",
    "failed_task",
    "measure_sweep",
]


def failed_task(index: int) -> bool:
    """Every 50th task fails (after its runs), so the failure panels have something to show."""
    return index % 50 == 49


@dataclass(frozen=True)
class DrivenSweep:
    """What the driven tasks recorded: totals the dashboard must show."""

    tasks: int
    runs_ok: int
    runs_failed: int
    tasks_succeeded: int
    tasks_failed: int
    slots: frozenset[int] = field(default_factory=frozenset)
    """The slots the tasks pushed under (empty when pushed by index)."""


@dataclass
class _Task:
    index: int
    metrics: WorkerMetrics
    reporter: SlotReporter | None


def _push_by_index(url: str, task: _Task) -> None:
    """One task's push as workers made it before slots: a group of its own, by index."""
    key = {NAMESPACE_LABEL: task.metrics.namespace} if task.metrics.namespace else {}
    push_to_gateway(
        url,
        job=WORKER_JOB,
        registry=task.metrics.registry,
        grouping_key={**key, "sweep": task.metrics.sweep, "index": str(task.index)},
        timeout=30,
    )


def delete_index_groups(url: str, namespace: str, sweep: str, tasks: int) -> None:
    """Delete the groups of a sweep pushed by task index (16 DELETEs at a time).

    A Pushgateway checks every push against every group it holds, so 10^5 series left behind
    would slow down every later push of the session.
    """

    def delete(index: int) -> None:
        key = {NAMESPACE_LABEL: namespace} if namespace else {}
        key |= {"sweep": sweep, "index": str(index)}
        delete_from_gateway(url, job=WORKER_JOB, grouping_key=key, timeout=60)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(delete, range(tasks)))


def drive_sweep(
    url: str,
    namespace: str,
    sweep: str,
    *,
    tasks: int,
    parallelism: int,
    store: Store | None,
    runs_per_task: int = 3,
    on_running: Callable[[int], None] | None = None,
    after_wave: Callable[[int], None] | None = None,
    threads: int = 8,
) -> DrivenSweep:
    """Push ``tasks`` tasks' metrics in waves of ``parallelism``; the callbacks get the wave.

    ``store``: where the slots are claimed (the sweep's store); None pushes by task index.
    """

    def push(task: _Task) -> None:
        if task.reporter is None:
            _push_by_index(url, task)
        else:
            task.reporter.push()

    def start(index: int) -> _Task:
        metrics = WorkerMetrics(
            CollectorRegistry(), sweep=sweep, namespace=namespace, total_tasks=tasks
        )
        reporter = None
        if store is not None:
            holder = Holder.here(uuid.uuid4().hex)
            reporter = SlotReporter(
                url, metrics, store, holder, parallelism=parallelism, first=index, push_timeout=30
            )
        task = _Task(index, metrics, reporter)
        if reporter is None:
            push(task)
        else:
            reporter.begin()  # the task is held: claim a slot, push
        return task

    def run(task: _Task) -> None:
        for run in range(runs_per_task):
            task.metrics.observe_run(
                duration_seconds=0.01 * (1 + run),
                agents=100,
                flips=run,
                agents_flipped=run,
                passed=run % 2 == 0,
            )
        push(task)  # a periodic push

    def finish(task: _Task) -> int | None:
        if task.index % 7 == 0:
            task.metrics.observe_run_failure()
        outcome = TaskOutcome.FAILED if failed_task(task.index) else TaskOutcome.SUCCEEDED
        task.metrics.add_storage_written(1000)
        task.metrics.finish_task(outcome, duration_seconds=1.0 + task.index % 5)
        if task.reporter is None:
            push(task)  # the final push
            return None
        slot = task.reporter.slot
        task.reporter.finish()  # the final push, then the slot's release
        return slot

    slots: set[int] = set()
    with ThreadPoolExecutor(threads) as pool:
        for wave, first in enumerate(range(0, tasks, parallelism)):
            running = list(pool.map(start, range(first, min(first + parallelism, tasks))))
            list(pool.map(run, running))
            if on_running is not None:
                on_running(wave)
            slots.update(s for s in pool.map(finish, running) if s is not None)
            if after_wave is not None:
                after_wave(wave)
    failed = sum(failed_task(i) for i in range(tasks))
    return DrivenSweep(
        tasks=tasks,
        runs_ok=tasks * runs_per_task,
        runs_failed=sum(i % 7 == 0 for i in range(tasks)),
        tasks_succeeded=tasks - failed,
        tasks_failed=failed,
        slots=frozenset(slots),
    )


def gateway_series(gateway_url: str, namespace: str, sweep: str) -> int:
    """The ``govsim_`` series (``_created`` ones aside) the gateway holds for the sweep."""
    with urllib.request.urlopen(gateway_url.rstrip("/") + "/metrics", timeout=60) as response:
        text = response.read().decode()
    return sum(
        1
        for family in text_string_to_metric_families(text)
        if family.name.startswith("govsim_")
        for sample in family.samples
        if not sample.name.endswith("_created")
        and sample.labels.get("job") == WORKER_JOB
        and sample.labels.get("sweep") == sweep
        and sample.labels.get(NAMESPACE_LABEL, "") == namespace
    )


def wait_until_scraped(
    gateway_url: str, api: PrometheusAPI, namespace: str, sweep: str, *, timeout: float
) -> int:
    """Wait until Prometheus holds exactly the sweep's series the gateway holds; their count.

    A group scraped between two of its pushes can hold fewer series than it does now (its
    histograms come with its first run), so an earlier count could be short.
    """
    expected = gateway_series(gateway_url, namespace, sweep)
    api.wait_for(
        f'count({{sweep="{sweep}", __name__=~"govsim_.*", __name__!~".*_created"}})',
        lambda answer: len(answer) == 1 and answer[0].value == expected,
        timeout=timeout,
    )
    return expected


@dataclass(frozen=True)
class SeriesCount:
    """What one driven sweep cost Prometheus."""

    live: int
    """Series Prometheus held for the sweep while its last wave ran (``count({sweep=...})``)."""
    head_added: int
    """Series the TSDB head gained while the sweep was driven (``headStats.numSeries``); the
    Pushgateway's own metrics may add a few (a request type it had not served before)."""
    head_sweep: int
    """The sweep's own series in the head, stale ones included (``last_over_time`` over the
    last hour): ``head_added`` without anything else the head gained meanwhile."""
    seconds: float
    """How long driving the sweep took."""
    driven: DrivenSweep


def measure_sweep(
    gateway_url: str,
    api: PrometheusAPI,
    namespace: str,
    sweep: str,
    *,
    tasks: int,
    parallelism: int,
    store: Store | None,
    timeout: float = 60,
) -> SeriesCount:
    """Drive the sweep (by slot in ``store``, or by index when None) and count its series."""
    waves = -(-tasks // parallelism)
    live: list[int] = []
    before = api.head_series()
    started = time.monotonic()

    def on_running(wave: int) -> None:
        if wave == waves - 1:
            wait_until_scraped(gateway_url, api, namespace, sweep, timeout=timeout)
            live.append(int(api.query(f'count({{sweep="{sweep}"}})')[0].value))

    driven = drive_sweep(
        gateway_url,
        namespace,
        sweep,
        tasks=tasks,
        parallelism=parallelism,
        store=store,
        on_running=on_running,
    )
    seconds = time.monotonic() - started
    # Every series the sweep's groups hold now has been scraped (and so is in the head).
    wait_until_scraped(gateway_url, api, namespace, sweep, timeout=timeout)
    head_added = api.head_series() - before
    ever = api.query(f'count(last_over_time({{sweep="{sweep}"}}[1h]))')
    return SeriesCount(
        live=live[0],
        head_added=head_added,
        head_sweep=int(ever[0].value),
        seconds=seconds,
        driven=driven,
    )
