"""Folding a sweep's finished task groups into one per-sweep group, so series follow parallelism.

Each task pushes its registry under its own group (``index=<job index>``, about 126 series).
Kept until the sweep ends, those groups make the series a Prometheus holds grow with the task
count. Instead, the controller folds them as tasks end: it reads the sweep's groups from the
Pushgateway, adds every *finished* group (one whose ``govsim_tasks_total`` is above 0: its final
push has landed) into the sweep's **folded group** ``index="folded"``, PUTs that group, and then
deletes the finished ones. A sweep then holds its running tasks' groups (about its parallelism)
plus one folded group, and every dashboard query that sums by ``(sweep_namespace, sweep)`` reads
the same totals as before: counters and histogram buckets add up, and the gauges combine as the
queries read them (task count and progress time: the maximum; start time: the minimum).

Distributed semantics:

* One writer per folded group: the controller (one replica) folds a namespaced sweep; nobody
  folds a sweep run outside Kubernetes (``sweepctl run`` keeps one group per index, as before).
* A finished group is never written again by its task, so reading it and deleting it after the
  PUT cannot lose a later value. A retried index pushes under the same index: if it starts before
  the fold has read the failed attempt's final group, that attempt's counts are replaced (the
  group mirrors the latest attempt, as without folding).
* The PUT comes before the DELETEs. A scrape between the two counts those tasks twice for one
  scrape; a controller that stops between the two (or a DELETE that fails) counts them twice until
  the sweep's cleanup. The other order would lose them instead.
* Nothing here raises on a Pushgateway failure: the result says what happened, and the next call
  picks up whatever is left.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import push_to_gateway
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from sweep_controller.metrics.labels import NAMESPACE_LABEL, sweep_label
from sweep_controller.metrics.pushgateway import (
    DEFAULT_CLEANUP_BUDGET_SECONDS,
    DEFAULT_PUSH_TIMEOUT_SECONDS,
    WORKER_JOB,
    DeleteResult,
    GroupIndex,
    delete_sweep_groups,
    task_grouping_key,
)

__all__ = [
    "FOLDED_INDEX",
    "FoldResult",
    "SweepGroups",
    "fold_finished_groups",
    "read_sweep_groups",
]

log = logging.getLogger(__name__)

FOLDED_INDEX = "folded"
"""The ``index`` label of a sweep's folded group (the sum of its finished tasks)."""

# Labels that name a group, not a series within it: dropped before groups are added up.
_GROUP_LABELS = frozenset({"job", "index", "instance"})
_MIN_GAUGES = frozenset({"govsim_task_started_timestamp_seconds"})

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""A sample's name and its labels other than the grouping ones, sorted."""


@dataclass(frozen=True)
class _Family:
    name: str
    documentation: str
    type: str


@dataclass
class SweepGroups:
    """One sweep's groups as the Pushgateway holds them: samples per index, and their families."""

    groups: dict[GroupIndex, dict[SeriesKey, float]]
    families: dict[SeriesKey, _Family]

    def finished(self) -> list[GroupIndex]:
        """Task groups whose final push has landed (a task counted in ``govsim_tasks_total``)."""
        return [
            index
            for index, samples in self.groups.items()
            if index != FOLDED_INDEX
            and any(k[0] == "govsim_tasks_total" and v > 0 for k, v in samples.items())
        ]

    def series_per_group(self) -> dict[GroupIndex, int]:
        """How many series each group holds (govsim families only)."""
        return {index: len(samples) for index, samples in self.groups.items()}


@dataclass(frozen=True)
class FoldResult:
    """What one :func:`fold_finished_groups` call did.

    ``folded``: task groups added into the folded group; ``deletion``: the DELETEs of those groups
    (None when nothing was folded); ``error``: why nothing was folded (read or PUT failed).
    """

    folded: tuple[GroupIndex, ...]
    running: int
    deletion: DeleteResult | None = None
    error: str | None = None


def read_sweep_groups(
    gateway_url: str,
    namespace: str,
    sweep: str,
    *,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
) -> SweepGroups:
    """Read sweep ``namespace/sweep``'s groups from the Pushgateway's ``/metrics``; may raise.

    Only ``govsim_`` samples of ``job="govsim-worker"`` groups of that namespace and sweep are
    kept; ``_created`` samples (a process-local creation time) are left out.
    """
    sweep_label(sweep)
    with urllib.request.urlopen(gateway_url.rstrip("/") + "/metrics", timeout=timeout) as resp:
        text = resp.read().decode()
    groups: dict[GroupIndex, dict[SeriesKey, float]] = {}
    families: dict[SeriesKey, _Family] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("govsim_"):
            continue
        kind = _Family(family.name, family.documentation, family.type)
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_created")
                or labels.get("job") != WORKER_JOB
                or labels.get("sweep") != sweep
                or labels.get(NAMESPACE_LABEL, "") != namespace
                or "index" not in labels
            ):
                continue
            raw = labels["index"]
            index: GroupIndex = int(raw) if raw.isdigit() else raw
            key = (sample.name, tuple(sorted(_series_labels(labels))))
            groups.setdefault(index, {})[key] = sample.value
            families[key] = kind
    return SweepGroups(groups, families)


def _series_labels(labels: dict[str, str]) -> Iterator[tuple[str, str]]:
    for name, value in labels.items():
        if name not in _GROUP_LABELS and value != "":
            yield name, value


def _combine(key: SeriesKey, kind: _Family, values: Iterable[float]) -> float:
    if kind.type != "gauge":
        return sum(values)  # counters and histogram buckets, sums and counts add up
    return min(values) if key[0] in _MIN_GAUGES else max(values)


class _FoldedCollector(Collector):
    """The folded group's samples as metric families, for ``push_to_gateway``."""

    def __init__(self, samples: dict[SeriesKey, float], families: dict[SeriesKey, _Family]):
        self._samples = samples
        self._families = families

    def collect(self) -> Iterator[Metric]:
        metrics: dict[str, Metric] = {}
        for key in sorted(self._samples):
            kind = self._families[key]
            metric = metrics.get(kind.name)
            if metric is None:
                metric = metrics[kind.name] = Metric(kind.name, kind.documentation, kind.type)
            metric.add_sample(key[0], dict(key[1]), self._samples[key])
        yield from metrics.values()


def fold_finished_groups(
    gateway_url: str,
    namespace: str,
    sweep: str,
    *,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
    budget_seconds: float = DEFAULT_CLEANUP_BUDGET_SECONDS,
) -> FoldResult:
    """Add sweep ``namespace/sweep``'s finished task groups into its folded group, then delete them.

    Never raises on a Pushgateway failure: a failed read or PUT folds nothing (``error`` says
    why); DELETEs that fail or outlive ``budget_seconds`` leave groups that are already counted
    in the folded group (see the module docstring).
    """
    name = f"{namespace}/{sweep}" if namespace else sweep
    try:
        seen = read_sweep_groups(gateway_url, namespace, sweep, timeout=timeout)
    except Exception as exc:
        error = f"read failed: {type(exc).__name__}: {exc}"
        log.warning("pushgateway %s: fold of sweep %s: %s", gateway_url, name, error)
        return FoldResult(folded=(), running=0, error=error)
    finished = seen.finished()
    running = len(seen.groups) - len(finished) - (FOLDED_INDEX in seen.groups)
    if not finished:
        return FoldResult(folded=(), running=running)
    parts = [seen.groups.get(FOLDED_INDEX, {}), *(seen.groups[i] for i in finished)]
    keys = {key for part in parts for key in part}
    folded = {
        key: _combine(key, seen.families[key], (part[key] for part in parts if key in part))
        for key in keys
    }
    registry = CollectorRegistry()
    registry.register(_FoldedCollector(folded, seen.families))
    try:
        push_to_gateway(
            gateway_url,
            job=WORKER_JOB,
            registry=registry,
            grouping_key=task_grouping_key(namespace, sweep, FOLDED_INDEX),
            timeout=timeout,
        )
    except Exception as exc:
        error = f"push of the folded group failed: {type(exc).__name__}: {exc}"
        log.warning("pushgateway %s: fold of sweep %s: %s", gateway_url, name, error)
        return FoldResult(folded=(), running=running + len(finished), error=error)
    deletion = delete_sweep_groups(
        gateway_url,
        namespace,
        sweep,
        finished,
        budget_seconds=budget_seconds,
        timeout=timeout,
    )
    return FoldResult(folded=tuple(finished), running=running, deletion=deletion)
