"""Consistency rules of the research scenarios' record blocks (``mev``, ``trace_stats``).

A block is written exactly when its scenario is on (``trace_stats`` may be missing beside a trace
in records written before it existed), and its fields must agree with each other and
with the run's tallies: the honest counterfactual has the same voters as the run, so the same
stake cast and quorum; a run whose extractable value changed no vote is its own counterfactual;
the cascade trees partition the trace's flip events. Each rule gives one line naming the field.
The rules are listed in docs/schema.md.
"""

from __future__ import annotations

from simulator.messages import shown
from simulator.mev import extractor_count, welfare_difference
from simulator.records.schema import MevRecord, RunRecord, TraceStats

__all__ = ["check_mev", "check_trace_stats"]


def check_mev(r: RunRecord) -> list[str]:
    """The ``mev`` block is there exactly when params.mev_share > 0, and agrees with the run."""
    share = r.params.mev_share
    if r.mev is None:
        return [f"mev: missing, but params.mev_share = {share} > 0"] if share > 0 else []
    if share == 0:
        return ["mev: present, but params.mev_share is 0 (MEV-aware voting is off)"]
    return _mev_rules(r, r.mev)


def _mev_rules(r: RunRecord, m: MevRecord) -> list[str]:
    p: list[str] = []
    n, cast = r.params.agents, r.turnout.votes_cast
    k = extractor_count(r.params.mev_share, n)
    if m.extractors != k:
        p.append(f"mev.extractors: {m.extractors}, but round(params.mev_share × agents) = {k}")
    if m.extractors_voting > min(m.extractors, cast):
        p.append(
            f"mev.extractors_voting: {m.extractors_voting} exceeds mev.extractors = "
            f"{m.extractors} or turnout.votes_cast = {cast}"
        )
    if m.votes_changed > m.extractors_voting:
        p.append(
            f"mev.votes_changed: {m.votes_changed} exceeds mev.extractors_voting = "
            f"{m.extractors_voting} (only an extractor's vote can change)"
        )
    if (m.votes_changed == 0) != (m.stake_changed == 0):
        p.append(f"mev.stake_changed: {m.stake_changed} with mev.votes_changed = {m.votes_changed}")
    if m.value_scale != r.params.mev_value * m.utility_spread:
        p.append(
            f"mev.value_scale: {m.value_scale}, but params.mev_value × mev.utility_spread = "
            f"{r.params.mev_value * m.utility_spread}"
        )
    if m.value_scale == 0 and m.votes_changed:
        p.append(f"mev.votes_changed: {m.votes_changed}, but mev.value_scale is 0")
    stake_cast = r.turnout.stake_cast
    if m.stake_changed > stake_cast or m.yes_stake_honest > stake_cast:
        p.append(
            "mev.stake_changed and mev.yes_stake_honest must not exceed turnout.stake_cast = "
            f"{stake_cast}"
        )
    honest = r.turnout.quorum_met and m.yes_stake_honest > stake_cast - m.yes_stake_honest
    if m.passed_honest != honest:
        p.append(
            f"mev.passed_honest: {shown(m.passed_honest)}, but turnout.quorum_met and "
            f"mev.yes_stake_honest > stake_cast - mev.yes_stake_honest is {shown(honest)}"
        )
    if m.outcome_changed_by_mev != (r.votes.passed != m.passed_honest):
        p.append(
            f"mev.outcome_changed_by_mev: {shown(m.outcome_changed_by_mev)}, but votes.passed "
            f"{shown(r.votes.passed)} and mev.passed_honest {shown(m.passed_honest)}"
        )
    if m.votes_changed == 0 and m.yes_stake_honest != r.votes.weighted.final.yes:
        p.append(
            f"mev.yes_stake_honest: {m.yes_stake_honest}, but no vote changed, so the honest "
            f"counterfactual is the run itself (votes.weighted.final.yes = "
            f"{r.votes.weighted.final.yes})"
        )
    loss = welfare_difference(m.welfare_pass, m.passed_honest, r.votes.passed)
    if m.welfare_loss != loss:
        p.append(f"mev.welfare_loss: {m.welfare_loss}, but the passes and welfare_pass give {loss}")
    regret = welfare_difference(m.welfare_pass, m.welfare_pass > 0, r.votes.passed)
    if m.welfare_regret != regret:
        p.append(
            f"mev.welfare_regret: {m.welfare_regret}, but votes.passed and welfare_pass give "
            f"{regret}"
        )
    return p


def check_trace_stats(r: RunRecord) -> list[str]:
    """The ``trace_stats`` block needs a trace, and fits the run's flips.

    A record with a trace but no ``trace_stats`` stays valid: schema 0.5 records written before
    cascade trees were computed have none.
    """
    if r.trace_stats is None:
        return []
    if r.traces is None:
        return ["trace_stats: present, but the run wrote no trace (traces is null)"]
    return _trace_rules(r, r.trace_stats)


def _trace_rules(r: RunRecord, t: TraceStats) -> list[str]:
    p: list[str] = []
    f = r.flips
    sizes = [size for size, _ in t.size_counts]
    if sizes != sorted(set(sizes)):
        p.append(f"trace_stats.size_counts: sizes {sizes} must increase strictly")
    events = sum(size * count for size, count in t.size_counts)
    if events != f.total:
        p.append(
            f"trace_stats.size_counts: the trees hold {events} flips, but flips.total = {f.total}"
        )
    trees = sum(count for _, count in t.size_counts)
    if trees != t.cascades or sum(t.depth_counts) != t.cascades:
        p.append(
            f"trace_stats.cascades: {t.cascades}, but size_counts count {trees} trees and "
            f"depth_counts {sum(t.depth_counts)}"
        )
    if t.depth_counts and t.depth_counts[-1] == 0:
        p.append("trace_stats.depth_counts: must end at the deepest tree (last entry > 0)")
    if len(t.depth_counts) > r.cascade_rounds:
        p.append(
            f"trace_stats.depth_counts: {len(t.depth_counts)} depths, but a tree of "
            f"cascade_rounds = {r.cascade_rounds} rounds has at most that many generations"
        )
    if t.whale_signal_cascades > min(t.cascades, f.whale_signal_follow_events):
        p.append(
            f"trace_stats.whale_signal_cascades: {t.whale_signal_cascades} exceeds cascades = "
            f"{t.cascades} or flips.whale_signal_follow_events = {f.whale_signal_follow_events}"
        )
    triggered = f.total - t.cascades
    if t.influencers > r.agents_flipped_total or (t.influencers > 0) != (triggered > 0):
        p.append(
            f"trace_stats.influencers: {t.influencers}, with {triggered} triggered flips and "
            f"agents_flipped_total = {r.agents_flipped_total}"
        )
    if t.top_influence > triggered or (t.top_influence > 0) != (t.influencers > 0):
        p.append(
            f"trace_stats.top_influence: {t.top_influence}, with {triggered} triggered flips and "
            f"{t.influencers} influencers"
        )
    p += _whale_share_rules(r, t)
    return p


def _whale_share_rules(r: RunRecord, t: TraceStats) -> list[str]:
    p: list[str] = []
    w = r.votes.weighted
    if t.changed_stake > r.turnout.stake_cast:
        p.append(
            f"trace_stats.changed_stake: {t.changed_stake} exceeds turnout.stake_cast = "
            f"{r.turnout.stake_cast}"
        )
    if abs(w.final.yes - w.initial.yes) > t.changed_stake:
        p.append(
            f"trace_stats.changed_stake: {t.changed_stake} is less than the yes stake the "
            f"rounds moved, |{w.final.yes} - {w.initial.yes}|"
        )
    if t.whale_signal_stake > t.changed_stake:
        p.append(
            f"trace_stats.whale_signal_stake: {t.whale_signal_stake} exceeds changed_stake = "
            f"{t.changed_stake}"
        )
    share = t.whale_signal_stake / t.changed_stake if t.changed_stake > 0 else None
    if t.whale_signal_share != share:
        p.append(
            f"trace_stats.whale_signal_share: {shown(t.whale_signal_share)}, but "
            f"whale_signal_stake / changed_stake = {shown(share)}"
        )
    if r.flips.whale_signal_follow_events == 0 and t.whale_signal_stake > 0:
        p.append(
            f"trace_stats.whale_signal_stake: {t.whale_signal_stake}, but no flip followed the "
            "whale signal"
        )
    if t.whale_signal_decisive and t.whale_signal_stake == 0:
        p.append("trace_stats.whale_signal_decisive: true, but whale_signal_stake is 0")
    return p
