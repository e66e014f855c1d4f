"""Sweeps for the metrics and dashboard tests: specs whose task i is sized by ``agents[i]``, and
what a Pushgateway holds for them.

The tests run `sweepctl` exactly as a user does (`kit.cli`, with `--pushgateway` and
`--metrics-port`) and compare what the Pushgateway and Prometheus show with what the sweep wrote
to its output store (`kit.runs.read_output`), so expected values come from the run records, not
from guesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kit.promstack import Pushgateway
from kit.specs import document

__all__ = ["cumulative_counts", "gateway_value", "slot_groups", "sweep_doc"]


def sweep_doc(name: str, output: str, *, agents: Sequence[int], replicates: int) -> dict[str, Any]:
    """A Sweep with one task per entry of ``agents``: task i runs ``replicates`` runs of agents[i].

    A one-axis grid in sequential order with ``runsPerTask`` = ``replicates`` puts point i, and
    so agents[i], in task i; an entry much larger than the others makes that task the slow one.
    """
    spec = {
        "simulator": {"influence_model": "small_world", "mean_degree": 8, "cascade_rounds": 3},
        "parameters": {"agents": {"values": list(agents)}},
        "replicates": replicates,
        "seed": 20240611,
        "runsPerTask": replicates,
        "order": "sequential",
        "output": {"uri": output},
    }
    return document(name, spec)


def cumulative_counts(values: Sequence[float], bounds: Sequence[float]) -> dict[float, int]:
    """A histogram's cumulative bucket counts (``le`` as a float, +Inf included) for ``values``."""
    return {float(le): sum(1 for v in values if v <= le) for le in (*bounds, float("inf"))}


def gateway_value(gateway: Pushgateway, name: str, labels: Mapping[str, str]) -> float | None:
    """The value of the gateway's sample ``name`` whose labels include ``labels``, or None."""
    for family in text_string_to_metric_families(gateway.metrics_text()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def slot_groups(gateway: Pushgateway, sweep: str) -> list[int]:
    """The slots of ``sweep`` that have a group on the gateway, sorted."""
    return sorted(int(g["slot"]) for g in gateway.groups() if g.get("sweep") == sweep)
