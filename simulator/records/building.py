"""Building run records: from a ``RunResult`` (engine arrays) to a v0.5 ``RunRecord``.

A record's content is computed in one place, :func:`record_fields`, from the engine's struct of
arrays: tallies, flips, influence metadata, per-agent records (inline, as a reference to a
Parquet side file, or none) and the reference to the run's flip trace, if it wrote one.
:func:`run_records` runs simulations and yields their records, with seeds from
``simulator.seeding.run_seed`` and an injected clock and id source, so a record is reproducible
field for field. Writing them is ``simulator.records.io``'s job.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import simulator
from simulator.attack import Attack
from simulator.cascade_tree import summarise_forest
from simulator.coalition import summarize_run
from simulator.concentration import PowerProfile, gini_and_nakamoto
from simulator.delegation import DelegationSummary
from simulator.errors import ParameterError
from simulator.mev import summarise as summarise_mev
from simulator.model import Ending, RunResult, simulate
from simulator.outcome import Tally, tally
from simulator.params import ARCHETYPES, AgentRecords, SimParams, Traces
from simulator.records.io import write_agent_parquet, write_trace_parquet
from simulator.records.schema import SCHEMA_VERSION, AgentRecordsRef, RunRecord, TracesRef
from simulator.seeding import run_seed

__all__ = ["agent_columns", "build_record", "record_fields", "run_records", "utc_now"]


def utc_now() -> datetime:
    """The default clock: the current time in UTC."""
    return datetime.now(UTC)


def _count(votes: np.ndarray, participated: np.ndarray, attack: Attack | None) -> dict[str, int]:
    yes = int(np.count_nonzero(votes & participated))
    no = int(np.count_nonzero(participated)) - yes
    if attack is not None:  # the attacker's own votes: its sybils and the borrowed power
        extra = attack.attacker_voters
        yes, no = (yes + extra, no) if attack.target_yes else (yes, no + extra)
    return {"yes": yes, "no": no}


def _attack(result: RunResult, passed: bool) -> dict[str, Any]:
    """The record's ``attack`` block."""
    a = result.attack
    assert a is not None
    return {
        "target": "pass" if a.target_yes else "fail",
        "passed_without_attack": a.passed_without,
        "quorum_met_without_attack": a.quorum_met_without,
        "succeeded": a.succeeded(passed),
        "holders_stake": a.holders_stake,
        "budget": a.budget,
        "spent": a.spent,
        "bribed": int(np.count_nonzero(a.bribed)),
        "bribed_abstainers": a.bribed_abstainers,
        "bribed_stake": float(result.voting_power[a.bribed].sum()),
        "borrowed_power": a.borrowed_power,
        "sybils": a.sybils,
        "sybil_stake": a.sybil_stake,
        "sybil_edges": a.sybil_edges,
    }


def _cascade(result: RunResult) -> dict[str, Any]:
    f = result.influence
    return {
        "ending": f.ending.value,
        "converged_round": f.converged_round,
        "period": f.period if f.ending is Ending.CYCLE else None,
    }


def agent_columns(result: RunResult) -> dict[str, np.ndarray]:
    """Per-agent records as columns (``flip_round`` 0 means never flipped)."""
    a, f = result.agents, result.influence
    scenario = {} if result.attack is None else {"bribed": result.attack.bribed}
    return {
        "id": np.arange(len(a), dtype=np.int64),
        "archetype": a.archetype,
        "stake": a.stake,
        "risk_tolerance": a.risk_tolerance,
        "conformity": a.conformity,
        "threshold": a.threshold,
        "degree": result.degree,
        "initial_vote": result.initial_votes,
        "final_vote": f.final_votes,
        "flip_count": f.flip_count,
        "flip_round": f.flip_round,
        "participated": result.participated,
        "utility": result.utility,
        "whale_signal_follows": f.whale_follows,
        **_delegation_columns(result),
        **scenario,
    }


def _delegation_columns(result: RunResult) -> dict[str, np.ndarray]:
    """The per-agent delegation columns, when the run delegates."""
    d = result.delegation
    if d is None:
        return {}
    return {
        "delegate": d.delegate,
        "delegated_power": d.delegated_power,
        "voting_power": d.power,
        "overrode": d.overrode,
    }


def _delegation(result: RunResult) -> dict[str, Any]:
    """The run's ``delegation`` block (only called when the run delegates)."""
    assert result.delegation is not None
    attack = result.attack
    summary = DelegationSummary.of(
        result.delegation,
        result.agents.stake,
        None if attack is None else attack.attacker_stakes(),
    )
    return {
        f.name: asdict(value)
        if isinstance(value := getattr(summary, f.name), PowerProfile)
        else value
        for f in fields(summary)
    }


def _inline_agents(result: RunResult) -> list[dict[str, Any]]:
    cols = {k: v.tolist() for k, v in agent_columns(result).items()}
    names = [a.value for a in ARCHETYPES]
    cols["archetype"] = [names[i] for i in cols["archetype"]]
    cols["flip_round"] = [r or None for r in cols["flip_round"]]
    keys = list(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def record_fields(
    result: RunResult,
    *,
    run_id: uuid.UUID,
    timestamp: datetime,
    base_seed: int,
    run_index: int,
    agent_records: AgentRecords | AgentRecordsRef = AgentRecords.INLINE,
    traces: TracesRef | None = None,
) -> dict[str, Any]:
    """The run record of ``result`` as JSON-shaped fields: every field, in schema order.

    ``params`` stays the ``SimParams``; everything else is plain data. A scenario's block
    (``delegation``) is a key only when the scenario is on, so a run without scenarios has the
    fields it had before they existed.

    The one place a record's content is computed. :func:`build_record` validates these fields
    into a ``RunRecord``; the sweep worker serialises them with ``pydantic_core.to_json`` and
    validates the bytes it stores, which skips building the model twice. Both give the same JSON
    as ``build_record(...).model_dump_json(by_alias=True)`` (tested). For Parquet pass the ref
    ``write_agent_parquet`` returned; ``traces`` is the ref ``write_trace_parquet`` returned.
    """
    n = len(result.agents)
    f = result.influence
    voted = result.participated
    before, after = tally(result, initial=True), tally(result)
    attack = result.attack
    cast_power = result.voting_power[voted]
    if attack is not None:
        cast_power = np.concatenate([cast_power, attack.attacker_stakes()])
    cast_gini, cast_nakamoto = gini_and_nakamoto(cast_power)
    agents: list[dict[str, Any]] | None = None
    if isinstance(agent_records, AgentRecordsRef):
        ref = agent_records.model_dump(mode="json")
    elif agent_records is AgentRecords.INLINE:
        ref, agents = _ref(agent_records, n), _inline_agents(result)
    elif agent_records is AgentRecords.NONE:
        ref = _ref(agent_records, 0)
    else:
        raise ParameterError("agent_records: parquet needs the side file; use write_agent_parquet")
    p = result.proposal
    scenarios: dict[str, Any] = {}
    if result.delegation is not None:
        scenarios["delegation"] = _delegation(result)
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "timestamp": timestamp,
        "seed": result.seed,
        "base_seed": base_seed,
        "run_index": run_index,
        "code_version": simulator.__version__,
        "params": result.params,
        "rules": result.params.rules.value,
        "schedule": result.params.schedule.value,
        "calibration": result.params.calibration.value,
        "proposal": {"risk": p.risk, "yield": p.yield_, "complexity": p.complexity},
        "turnout": {
            "votes_cast": int(np.count_nonzero(voted)) + (attack.attacker_voters if attack else 0),
            "stake_cast": after.cast,
            "quorum": after.quorum,
            "quorum_met": after.quorum_met,
        },
        "votes": {
            "initial": _count(result.initial_votes, voted, attack),
            "final": _count(f.final_votes, voted, attack),
            "weighted": {
                "initial": _stake(before),
                "final": _stake(after),
                "total_stake": after.total,
            },
            "passed": after.passed,
            "passed_initial": before.passed,
        },
        "outcome_changed_by_cascade": after.passed != before.passed,
        "concentration": {"gini": cast_gini, "nakamoto": cast_nakamoto},
        "flips": {
            "total": int(f.flip_count.sum()),
            "yes_to_no": f.yes_to_no,
            "no_to_yes": f.no_to_yes,
            "per_round": f.flips_per_round.tolist(),
            "whale_signal_follow_events": f.whale_signal_followers,
        },
        "influence_model": result.params.influence_model.value,
        "cascade_rounds": f.rounds_run,
        "cascade": _cascade(result),
        "agents_flipped_total": int(np.count_nonzero(f.flip_count)),
        "agent_records": ref,
        "agents": agents,
        "traces": None if traces is None else traces.model_dump(mode="json"),
        **scenarios,
        **({} if attack is None else {"attack": _attack(result, after.passed)}),
    }
    if result.blocs is not None:  # whale coalitions; the block is absent when they are off
        fields["coalitions"] = _coalitions(result)
    return fields | _scenario_blocks(result, after)


def _coalitions(result: RunResult) -> dict[str, Any]:
    summary = summarize_run(result)
    block = dataclasses.asdict(summary)
    block["rule"] = summary.rule.value
    return block


def _scenario_blocks(result: RunResult, after: Tally) -> dict[str, Any]:
    """The research scenarios' blocks of the record, only those that are on."""
    blocks: dict[str, Any] = {}
    mev = summarise_mev(result, after)
    if mev is not None:
        blocks["mev"] = asdict(mev)
    f, trace = result.cascades, result.influence.trace
    if f is not None and trace is not None:
        blocks["trace_stats"] = asdict(
            summarise_forest(
                f,
                trace,
                stake=result.agents.stake,
                initial=result.initial_votes,
                final=result.influence.final_votes,
                participated=result.participated,
                quorum_met=after.quorum_met,
                passed=after.passed,
            )
        )
    return blocks


def _stake(t: Tally) -> dict[str, float]:
    return {"yes": t.yes, "no": t.no}


def _ref(mode: AgentRecords, count: int) -> dict[str, Any]:
    return {"mode": mode.value, "path": None, "sha256": None, "count": count}


def build_record(
    result: RunResult,
    *,
    run_id: uuid.UUID,
    timestamp: datetime,
    base_seed: int,
    run_index: int,
    agent_records: AgentRecords | AgentRecordsRef = AgentRecords.INLINE,
    traces: TracesRef | None = None,
) -> RunRecord:
    """The validated run record of ``result`` (see :func:`record_fields`)."""
    return RunRecord.model_validate(
        record_fields(
            result,
            run_id=run_id,
            timestamp=timestamp,
            base_seed=base_seed,
            run_index=run_index,
            agent_records=agent_records,
            traces=traces,
        )
    )


def run_records(
    params: SimParams,
    *,
    base_seed: int,
    runs: int,
    agent_records: AgentRecords = AgentRecords.INLINE,
    traces: Traces = Traces.NONE,
    output: Path | None = None,
    clock: Callable[[], datetime] = utc_now,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    first_index: int = 0,
) -> Iterator[RunRecord]:
    """Records of runs ``first_index .. first_index + runs - 1`` (seeds from ``run_seed``).

    Parquet side files (per-agent records, flip traces) need ``output`` (the JSONL path they sit
    beside) and are written before the record is yielded, so a record never refers to a missing
    file.
    """
    if agent_records is AgentRecords.PARQUET and output is None:
        raise ParameterError("agent_records: parquet needs an output path for the side files")
    if traces is Traces.PARQUET and output is None:
        raise ParameterError("traces: parquet needs an output path for the side files")
    for index in range(first_index, first_index + runs):
        seed = run_seed(base_seed, index)
        result = simulate(params, seed, trace=traces is Traces.PARQUET)
        run_id = new_id()
        ref: AgentRecords | AgentRecordsRef = agent_records
        if agent_records is AgentRecords.PARQUET and output is not None:
            ref = write_agent_parquet(agent_columns(result), output, run_id)
        trace_ref = None
        if result.influence.trace is not None and output is not None:
            trace_ref = write_trace_parquet(result.influence.trace, index, output, run_id)
        yield build_record(
            result,
            run_id=run_id,
            timestamp=clock(),
            base_seed=base_seed,
            run_index=index,
            agent_records=ref,
            traces=trace_ref,
        )
