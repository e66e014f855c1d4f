"""A metric slot's totals: what successive tasks holding one slot add up to, and how it is pushed.

A task pushes under a **slot** of its sweep, not under its own index, so the Pushgateway holds
(and Prometheus ever sees) one group per slot: about the sweep's parallelism, whatever its task
count. Tasks take turns on a slot (``sweep_controller.execution.slot`` claims them so that no
two running tasks share one), so a slot's group must show everything its holders did, not only
the current holder's task: its counters and histograms are **cumulative across holders**. A
holder starts from the slot's totals (:class:`SlotTotals`, kept beside the slot's lease in the
sweep's store) and pushes ``base + own - already``:

* ``base``: the slot's totals when this holder took it;
* ``own``: the holder's own task metrics (its ``WorkerMetrics`` registry, counted from zero);
* ``already``: the part of ``own`` already counted in another slot's totals (zero, unless the
  holder lost a slot mid-task and moved to another one).

So a slot's counters never go backwards while its totals are kept, and ``rate()``, ``increase()``
and the dashboard's sums read it like one long-lived process. Gauges are not summed: the task
start time takes the earliest of the slot's holders (so "the sweep's first task started" stays
true), the progress time the latest, and any other gauge (the sweep's task count) the holder's.
``_created`` samples are left out: a holder's registry did not create the slot's counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict

__all__ = ["ComposedSlot", "FamiliesCollector", "SlotSample", "SlotTotals", "compose_slot"]

_EARLIEST = frozenset({"govsim_task_started_timestamp_seconds"})
_LATEST = frozenset({"govsim_task_progress_timestamp_seconds"})

SampleKey = tuple[str, tuple[tuple[str, str], ...]]
"""A sample's name and its sorted labels."""


class SlotSample(BaseModel):
    """One sample of a slot's totals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    labels: dict[str, str]
    value: float


class SlotTotals(BaseModel):
    """A slot's metrics as its holders have pushed them so far: samples per metric family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: dict[str, list[SlotSample]] = {}

    def values(self, family: str) -> dict[SampleKey, float]:
        """The samples of ``family`` by key (empty when the family is absent)."""
        return {_key(s.name, s.labels): s.value for s in self.families.get(family, ())}

    def sample_value(self, name: str, labels: dict[str, str]) -> float | None:
        """One sample's value, or None (like ``CollectorRegistry.get_sample_value``)."""
        key = _key(name, labels)
        for samples in self.families.values():
            for sample in samples:
                if _key(sample.name, sample.labels) == key:
                    return sample.value
        return None

    @classmethod
    def of(cls, families: Iterable[Metric]) -> SlotTotals:
        """The totals of metric families (their ``_created`` samples left out), in key order."""
        # Built from samples prometheus_client made: no validation needed (a hot path: every push).
        return cls.model_construct(
            families={
                family.name: [
                    SlotSample.model_construct(name=s.name, labels=dict(s.labels), value=s.value)
                    for s in sorted(family.samples, key=lambda s: _key(s.name, s.labels))
                    if not s.name.endswith("_created")
                ]
                for family in families
            }
        )


def _key(name: str, labels: dict[str, str]) -> SampleKey:
    return name, tuple(sorted(labels.items()))


def _combine(family: Metric, base: float | None, own: float | None, already: float) -> float:
    if family.type in ("counter", "histogram"):
        return (base or 0.0) + (own or 0.0) - already
    present = [v for v in (base, own) if v is not None]
    if family.name in _EARLIEST:
        return min(present)
    if family.name in _LATEST:
        return max(present)
    return own if own is not None else present[0]


@dataclass(frozen=True)
class ComposedSlot:
    """What a holder pushes for its slot now, and its own part of it."""

    families: list[Metric]
    totals: SlotTotals
    """The slot's totals as pushed: what its lease records, and the next holder starts from."""
    own: SlotTotals
    """The holder's own registry as read for this composition."""


def compose_slot(
    registry: CollectorRegistry, *, base: SlotTotals, already: SlotTotals
) -> ComposedSlot:
    """The slot's families: ``base + own - already`` for counters and histograms, gauges carried.

    Only the families of ``registry`` are pushed: a family that ``base`` holds and the registry
    does not (from another release of the code) is dropped.
    """
    own_families = list(registry.collect())
    own = SlotTotals.of(own_families)
    families: list[Metric] = []
    for family in own_families:
        mine, carried, counted = (
            own.values(family.name),
            base.values(family.name),
            already.values(family.name),
        )
        composed = Metric(family.name, family.documentation, family.type)
        for key in sorted(mine.keys() | carried.keys()):
            value = _combine(family, carried.get(key), mine.get(key), counted.get(key, 0.0))
            composed.add_sample(key[0], dict(key[1]), value)
        families.append(composed)
    return ComposedSlot(families=families, totals=SlotTotals.of(families), own=own)


class FamiliesCollector(Collector):
    """Fixed metric families as a collector, to push them with ``push_to_gateway``."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families
