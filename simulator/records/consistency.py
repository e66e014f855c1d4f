"""Consistency rules of a v0.5 run record: the invariants its field types cannot express.

A record can be well-typed and still impossible: head counts that do not add up to the number of
agents, flip totals that disagree with the per-round flips, stake-weighted tallies that do not sum
to the total stake, an agent-records reference whose fields contradict its mode.
``check_consistency`` lists every such disagreement as a one-line message that names the field
path. This module holds the rules between run-level fields; the rules of per-agent rows, and of
the rows against the run's tallies, are in ``simulator.records.agent_rows``, those of a flip
trace in ``simulator.records.trace_rows``, and those of delegation in
``simulator.records.delegation_rows``. The rules are listed in docs/schema.md.
"""

from __future__ import annotations

import math
from pathlib import Path

from simulator.messages import shown
from simulator.model import Ending
from simulator.params import AgentRecords, RuleSet, Schedule
from simulator.population import resolve_population
from simulator.records.agent_rows import (
    agent_column_batches,
    check_inline_agents,
    check_side_file,
    stakes_agree,
)
from simulator.records.attack_rules import attacker_votes, check_attack
from simulator.records.coalition_checks import check_coalition_block
from simulator.records.delegation_rows import check_delegation_block
from simulator.records.scenario_blocks import check_mev, check_trace_stats
from simulator.records.schema import RunRecord, Stake
from simulator.records.trace_rows import check_trace_file, check_trace_ref

__all__ = ["check_consistency"]


def check_consistency(record: RunRecord, *, base_dir: Path | None = None) -> list[str]:
    """Every disagreement between the tallies of a well-typed record; empty when consistent.

    ``base_dir`` is the directory of the JSONL file the record came from; Parquet side files
    (per-agent records, flip traces) are resolved against it. Without it, no side file is opened.
    """
    problems = _check_settings(record)
    problems += _check_tallies(record)
    problems += check_attack(record)
    problems += _check_agent_records(record, base_dir)
    problems += check_trace_ref(record)
    problems += check_mev(record) + check_trace_stats(record)
    problems += check_coalition_block(record)
    problems += check_delegation_block(record)
    if record.traces is not None and base_dir is not None:
        agents = agent_column_batches(record, base_dir)
        problems += check_trace_file(record, base_dir, agents)
    return problems


def _check_settings(r: RunRecord) -> list[str]:
    """The run's rule set, schedule, calibration and quorum agree with its parameters."""
    p: list[str] = []
    for name in ("rules", "schedule", "calibration"):
        recorded, param = getattr(r, name), getattr(r.params, name)
        if recorded is not param:
            p.append(f"{name}: {recorded.value!r}, but params.{name} = {param.value!r}")
    quorum = 0.0 if r.params.rules is RuleSet.V0_4 else resolve_population(r.params).quorum
    if r.turnout.quorum != quorum:
        p.append(f"turnout.quorum: {r.turnout.quorum}, but the parameters give {quorum}")
    if r.params.rules is RuleSet.V0_4 and r.turnout.votes_cast != r.params.agents:
        p.append(
            f"turnout.votes_cast: {r.turnout.votes_cast}, but under rules v0.4 every one of "
            f"params.agents = {r.params.agents} votes"
        )
    return p


def _check_tallies(r: RunRecord) -> list[str]:
    p: list[str] = []
    n, v, f, cast = r.params.agents, r.votes, r.flips, r.turnout.votes_cast
    attackers = attacker_votes(r)
    if cast > n + attackers:
        more = f" plus the attacker's {attackers} own votes" if attackers else ""
        p.append(f"turnout.votes_cast: {cast} exceeds params.agents = {n}{more}")
    for phase in ("initial", "final"):
        c = getattr(v, phase)
        if c.yes + c.no != cast:
            p.append(
                f"votes.{phase}: yes + no = {c.yes} + {c.no} = {c.yes + c.no}, expected "
                f"turnout.votes_cast = {cast}"
            )
    if f.yes_to_no + f.no_to_yes != f.total:
        p.append(
            f"flips.total: {f.total}, but flips.yes_to_no + flips.no_to_yes = "
            f"{f.yes_to_no} + {f.no_to_yes} = {f.yes_to_no + f.no_to_yes}"
        )
    if sum(f.per_round) != f.total:
        p.append(f"flips.total: {f.total}, but sum(flips.per_round) = {sum(f.per_round)}")
    net = v.final.yes - v.initial.yes
    if f.no_to_yes - f.yes_to_no != net:
        p.append(
            f"flips: no_to_yes - yes_to_no = {f.no_to_yes - f.yes_to_no}, but votes.final.yes - "
            f"votes.initial.yes = {net}"
        )
    p += _check_rounds(r)
    if r.agents_flipped_total > n:
        p.append(f"agents_flipped_total: {r.agents_flipped_total} exceeds params.agents = {n}")
    if r.agents_flipped_total > f.total:
        p.append(
            f"agents_flipped_total: {r.agents_flipped_total} exceeds flips.total = {f.total} "
            "(each of those agents flipped at least once)"
        )
    if f.total > r.agents_flipped_total * r.cascade_rounds:
        p.append(
            f"flips.total: {f.total} exceeds agents_flipped_total × cascade_rounds = "
            f"{r.agents_flipped_total} × {r.cascade_rounds} (at most one flip per agent and round)"
        )
    if f.whale_signal_follow_events > f.total:
        p.append(
            f"flips.whale_signal_follow_events: {f.whale_signal_follow_events} exceeds "
            f"flips.total = {f.total} (following the whales against one's vote is a flip)"
        )
    changed = v.passed != v.passed_initial
    if r.outcome_changed_by_cascade != changed:
        p.append(
            f"outcome_changed_by_cascade: {shown(r.outcome_changed_by_cascade)}, but "
            f"votes.passed {shown(v.passed)} and votes.passed_initial {shown(v.passed_initial)}"
        )
    c = r.concentration
    if c is not None and cast == 0 and (c.gini, c.nakamoto) != (0.0, 0):
        p.append("concentration: gini and nakamoto must be 0 when nobody voted")
    if c is not None and c.nakamoto > cast:
        p.append(f"concentration.nakamoto: {c.nakamoto} exceeds turnout.votes_cast = {cast}")
    p += _check_weighted(r)
    if r.influence_model != r.params.influence_model.value:
        p.append(
            f"influence_model: {r.influence_model!r}, but params.influence_model = "
            f"{r.params.influence_model.value!r}"
        )
    if r.params.mean_degree is not None and not math.isfinite(r.params.mean_degree):
        p.append(f"params.mean_degree: {r.params.mean_degree} is not finite")
    return p


def _check_rounds(r: RunRecord) -> list[str]:
    p: list[str] = []
    per_round, rounds, limit = r.flips.per_round, r.cascade_rounds, r.params.cascade_rounds
    if len(per_round) != rounds:
        p.append(f"flips.per_round: {len(per_round)} entries, expected cascade_rounds = {rounds}")
    if rounds > limit:
        p.append(f"cascade_rounds: {rounds} exceeds params.cascade_rounds = {limit}")
    if r.schedule is Schedule.SYNCHRONOUS:  # random_fraction may have rounds without flips
        for k, flips in enumerate(per_round[:-1]):
            if flips == 0:
                p.append(
                    f"flips.per_round.{k}: round {k + 1} had no flips but the cascade went on "
                    "(a synchronous cascade stops after the first round without flips)"
                )
    for k, flips in enumerate(per_round):
        if flips > r.params.agents:
            p.append(f"flips.per_round.{k}: {flips} exceeds params.agents = {r.params.agents}")
    return p + _check_ending(r)


def _check_ending(r: RunRecord) -> list[str]:
    """The ending agrees with the rounds: converged, a cycle before the cap, or the cap."""
    c, per_round, rounds = r.cascade, r.flips.per_round, r.cascade_rounds
    limit = r.params.cascade_rounds
    if c.ending is Ending.CONVERGED:
        if not per_round or per_round[-1] != 0:
            return [f"cascade.ending: converged, but the last round ({rounds}) had flips"]
        changed = [k + 1 for k, flips in enumerate(per_round) if flips]
        last = changed[-1] if changed else 0
        if c.converged_round != last or c.period is not None:
            return [
                f"cascade: converged_round {shown(c.converged_round)} and period "
                f"{shown(c.period)}, expected {last} (the last round with flips) and null"
            ]
        return []
    if c.converged_round is not None:
        return [f"cascade.converged_round: {c.converged_round}, expected null when not converged"]
    if c.ending is Ending.CYCLE:
        if r.rules is not RuleSet.V0_5 or r.schedule is not Schedule.SYNCHRONOUS:
            return ["cascade.ending: cycle is only detected under rules v0.5, schedule synchronous"]
        if c.period != 2:
            return [f"cascade.period: {shown(c.period)}, expected 2 (the cycles detected)"]
        if len(per_round) < 2 or not per_round[-1] == per_round[-2] > 0:
            return [
                "cascade.ending: cycle, but the last two rounds do not flip the same number of "
                "agents"
            ]
        return []
    p: list[str] = []
    if c.period is not None:
        p.append(f"cascade.period: {c.period}, expected null when the ending is round_cap")
    if rounds != limit:
        p.append(
            f"cascade.ending: round_cap, but cascade_rounds {rounds} < params.cascade_rounds "
            f"{limit}"
        )
    return p


def _check_weighted(r: RunRecord) -> list[str]:
    p: list[str] = []
    w = r.votes.weighted
    values = {
        "votes.weighted.total_stake": w.total_stake,
        "votes.weighted.initial.yes": w.initial.yes,
        "votes.weighted.initial.no": w.initial.no,
        "votes.weighted.final.yes": w.final.yes,
        "votes.weighted.final.no": w.final.no,
    }
    infinite = [name for name, value in values.items() if not math.isfinite(value)]
    for name in infinite:
        p.append(f"{name}: {values[name]} is not finite")
    if infinite:
        return p
    t = r.turnout
    if not math.isfinite(t.stake_cast):
        return [*p, f"turnout.stake_cast: {t.stake_cast} is not finite"]
    if t.stake_cast > w.total_stake and not stakes_agree(t.stake_cast, w.total_stake):
        p.append(
            f"turnout.stake_cast: {t.stake_cast} exceeds votes.weighted.total_stake = "
            f"{w.total_stake}"
        )
    for phase in ("initial", "final"):
        s: Stake = getattr(w, phase)
        if not stakes_agree(s.yes + s.no, t.stake_cast):
            p.append(
                f"votes.weighted.{phase}: yes + no = {s.yes} + {s.no} = {s.yes + s.no}, expected "
                f"turnout.stake_cast = {t.stake_cast}"
            )
    met = t.stake_cast >= t.quorum * w.total_stake
    if t.quorum_met != met:
        p.append(
            f"turnout.quorum_met: {shown(t.quorum_met)}, but stake_cast {t.stake_cast} "
            f"{'>=' if met else '<'} quorum × total_stake = {t.quorum * w.total_stake}"
        )
    for name, phase in (("passed", "final"), ("passed_initial", "initial")):
        s = getattr(w, phase)
        expected = t.quorum_met and s.yes > s.no
        if getattr(r.votes, name) != expected:
            relation = ">" if s.yes > s.no else "<="
            p.append(
                f"votes.{name}: {shown(getattr(r.votes, name))}, but votes.weighted.{phase}.yes "
                f"{s.yes} {relation} votes.weighted.{phase}.no {s.no} and turnout.quorum_met is "
                f"{shown(t.quorum_met)} (a pass needs the quorum and more yes than no)"
            )
    return p


def _check_agent_records(r: RunRecord, base_dir: Path | None) -> list[str]:
    ref, n = r.agent_records, r.params.agents
    p: list[str] = []
    if ref.mode is not AgentRecords.INLINE and r.agents is not None:
        p.append(f"agents: must be null when agent_records.mode is {ref.mode.value}")
    if ref.mode is not AgentRecords.PARQUET:
        for name in ("path", "sha256"):
            if getattr(ref, name) is not None:
                p.append(f"agent_records.{name}: must be null when mode is {ref.mode.value}")
    if ref.mode is AgentRecords.NONE:
        if ref.count != 0:
            p.append(f"agent_records.count: {ref.count}, expected 0 when mode is none")
        return p
    if ref.count != n:
        p.append(f"agent_records.count: {ref.count}, expected params.agents = {n}")
    if ref.mode is AgentRecords.INLINE:
        if r.agents is None:
            return [*p, "agents: missing, but agent_records.mode is inline"]
        if len(r.agents) != ref.count:
            p.append(f"agents: {len(r.agents)} records, but agent_records.count = {ref.count}")
        return p + check_inline_agents(r)
    for name in ("path", "sha256"):
        if getattr(ref, name) is None:
            p.append(f"agent_records.{name}: missing, but mode is parquet")
    if ref.path is not None and ref.sha256 is not None and base_dir is not None:
        p += check_side_file(r, base_dir)
    return p
