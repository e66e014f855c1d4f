"""Rules of a run record's delegation: its ``delegation`` block and the per-agent columns.

A run that delegates (``params.delegation_rate > 0``, docs/model.md 11.2) writes a ``delegation``
block of totals and, in its per-agent records, four more columns: ``delegate``,
``delegated_power``, ``voting_power`` and ``overrode``. The block must agree with the parameters
and with the run's turnout and concentration (:func:`check_delegation_block`); the rows must each
be possible (one hop: a delegator's delegate is self-delegated; a voter's power is its own stake
unless delegated, plus what it was delegated) and together add up to the block and to each
delegate's delegated power (:class:`DelegationRows`, fed batch by batch by
``simulator.records.agent_rows``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from simulator.concentration import power_profile
from simulator.params import delegate_count
from simulator.records.schema import PowerConcentration, RunRecord

if TYPE_CHECKING:
    from simulator.records.agent_rows import AgentColumns

__all__ = ["DELEGATION_COLUMNS", "DelegationRows", "check_delegation_block"]

DELEGATION_COLUMNS: tuple[str, ...] = ("delegate", "delegated_power", "voting_power", "overrode")
"""The per-agent columns of a run that delegates (fields of ``AgentRecord``)."""
REL_TOL = ABS_TOL = 1e-9
"""Tolerance of power sums, as for stakes (``simulator.records.agent_rows``)."""
MAX_ROWS_REPORTED = 3


def _agree(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def check_delegation_block(r: RunRecord) -> list[str]:
    """The ``delegation`` block against the parameters, turnout and concentration."""
    on = r.params.delegation_rate > 0
    d = r.delegation
    if d is None:
        if on:
            return [
                f"delegation: missing, but params.delegation_rate = {r.params.delegation_rate} "
                "(the run delegates)"
            ]
        return []
    if not on:
        return ["delegation: present, but params.delegation_rate is 0 (no delegation)"]
    p: list[str] = []
    n, cast, total = r.params.agents, r.turnout.votes_cast, r.votes.weighted.total_stake
    floats = {
        "delegated_stake": d.delegated_stake,
        "overridden_stake": d.overridden_stake,
        "delegated_power_cast": d.delegated_power_cast,
        "stake_cast_without": d.stake_cast_without,
    }
    bad = [name for name, value in floats.items() if not math.isfinite(value)]
    p += [f"delegation.{name}: {floats[name]} is not finite" for name in bad]
    expected = delegate_count(r.params.delegate_share, n)
    if d.delegates != expected:
        p.append(
            f"delegation.delegates: {d.delegates}, but params.delegate_share "
            f"{r.params.delegate_share} of {n} agents gives {expected}"
        )
    for name, value, limit, what in (
        ("active_delegates", d.active_delegates, d.delegates, "delegation.delegates"),
        ("active_delegates", d.active_delegates, cast, "turnout.votes_cast"),
        ("delegators", d.delegators, n - d.delegates, "params.agents - delegation.delegates"),
        ("overrides", d.overrides, d.delegators, "delegation.delegators"),
        ("votes_cast_without", d.votes_cast_without, n, "params.agents"),
    ):
        if value > limit:
            p.append(f"delegation.{name}: {value} exceeds {what} = {limit}")
    if r.params.delegation_override == 0 and d.overrides:
        p.append(f"delegation.overrides: {d.overrides}, but params.delegation_override is 0")
    if not bad:
        limits: tuple[tuple[str, float, float, str], ...] = (
            ("delegated_stake", d.delegated_stake, total, "votes.weighted.total_stake"),
            ("overridden_stake", d.overridden_stake, d.delegated_stake, "delegated_stake"),
            (
                "delegated_power_cast",
                d.delegated_power_cast,
                d.delegated_stake - d.overridden_stake,
                "delegated_stake - overridden_stake",
            ),
            ("delegated_power_cast", d.delegated_power_cast, r.turnout.stake_cast, "stake_cast"),
            ("stake_cast_without", d.stake_cast_without, total, "votes.weighted.total_stake"),
        )
        for name, amount, ceiling, what in limits:
            if amount > ceiling and not _agree(amount, ceiling):
                p.append(f"delegation.{name}: {amount} exceeds {what} = {ceiling}")
    c = r.concentration
    w = d.with_delegation
    if c is not None and (w.nakamoto != c.nakamoto or not _agree(w.gini, c.gini)):
        p.append(
            f"delegation.with_delegation: nakamoto {w.nakamoto} and gini {w.gini}, but "
            f"concentration has {c.nakamoto} and {c.gini} (both of the voting power cast)"
        )
    p += _profile_rules("with_delegation", w, cast, "turnout.votes_cast")
    p += _profile_rules(
        "without_delegation", d.without_delegation, d.votes_cast_without, "votes_cast_without"
    )
    return p


def _attacker_power(r: RunRecord) -> np.ndarray:
    """The voting power of each vote a governance attacker casts itself (none without an
    attack): the loan, then one stake quantum per sybil; they are cast with delegation too."""
    a = r.attack
    if a is None:
        return np.zeros(0)
    loan = [a.borrowed_power] if a.borrowed_power > 0 else []
    return np.concatenate([np.asarray(loan, dtype=np.float64), np.full(a.sybils, a.sybil_stake)])


def _profile_rules(name: str, c: PowerConcentration, voters: int, what: str) -> list[str]:
    where = f"delegation.{name}"
    if voters == 0 and (c.top10_share, c.nakamoto, c.gini) != (0.0, 0, 0.0):
        return [f"{where}: top10_share, nakamoto and gini must be 0 when {what} is 0"]
    p: list[str] = []
    if c.nakamoto > voters:
        p.append(f"{where}.nakamoto: {c.nakamoto} exceeds {what} = {voters}")
    if 0 < voters <= 10 and c.top10_share != 1.0:
        p.append(f"{where}.top10_share: {c.top10_share}, expected 1 with {voters} voters")
    return p


class DelegationRows:
    """The delegation columns of one run's per-agent records, checked batch by batch.

    Row rules come back from :meth:`add`; rules across rows (one hop, each delegate's delegated
    power, the block's totals and concentration) from :meth:`finish`, which keeps one integer
    and two floats per agent.
    """

    def __init__(self, record: RunRecord, label: Callable[[int], str]) -> None:
        self.record = record
        self.label = label
        self.block = record.delegation
        self.n = record.params.agents
        self.absent = 0
        """Rows without delegation columns."""
        self.present = 0
        self.target: np.ndarray | None = None
        self.carried_stake: np.ndarray | None = None
        self.received: np.ndarray | None = None
        self.delegators = self.overrides = 0
        self.delegated_stake: list[float] = []
        self.overridden_stake: list[float] = []
        self.power_cast: list[float] = []
        self.voter_power: list[np.ndarray] = []

    def add(self, c: AgentColumns, offset: int) -> list[str]:
        """Check one batch's rows; keep what the rules across rows need."""
        if c.delegate is None:
            self.absent += len(c.id)
            return []
        delegated_power, voting_power, overrode = c.delegated_power, c.voting_power, c.overrode
        assert delegated_power is not None and voting_power is not None and overrode is not None
        self.present += len(c.id)
        if self.target is None:
            self.target = np.full(self.n, -1, dtype=np.int64)
            self.carried_stake = np.zeros(self.n)
            self.received = np.zeros(self.n)
        assert self.carried_stake is not None and self.received is not None
        p: list[str] = []
        n, ids, target = self.n, c.id, c.delegate
        stake = np.where(np.isfinite(c.stake), c.stake, 0.0)

        def rule(mask: np.ndarray, say: Callable[[int], str]) -> None:
            bad = np.flatnonzero(mask)
            out = [f"{self.label(offset + int(i))}.{say(int(i))}" for i in bad[:MAX_ROWS_REPORTED]]
            if len(bad) > MAX_ROWS_REPORTED:
                out[-1] += f" (and {len(bad) - MAX_ROWS_REPORTED} more rows)"
            p.extend(out)

        lacking = (target < 0) | np.isnan(delegated_power) | np.isnan(voting_power)
        rule(lacking, lambda i: "delegate: missing, but other rows have the delegation fields")
        rule(target >= n, lambda i: f"delegate: {target[i]} is outside [0, {n})")
        ok = ~lacking & (target < n) & (ids >= 0) & (ids < n)
        own = target == ids
        delegating = ok & ~own
        rule(
            overrode & own,
            lambda i: "overrode: true, but the agent did not delegate (delegate is its own id)",
        )
        rule(
            overrode & ~c.participated,
            lambda i: "overrode: true, but participated is false (overriding is voting)",
        )
        rule(
            delegating & ~overrode & c.participated,
            lambda i: (
                "participated: true, but the agent delegated to "
                f"{target[i]} and did not override (its delegate votes for it)"
            ),
        )
        rule(
            ok & ~own & (delegated_power > 0),
            lambda i: (
                f"delegated_power: {delegated_power[i]}, but the agent delegated to "
                f"{target[i]} (delegation is one hop: only self-delegated agents receive power)"
            ),
        )
        kept = np.where(delegating & ~overrode, 0.0, stake)
        expected = kept + np.nan_to_num(delegated_power)
        rule(
            ok & ~np.isclose(voting_power, expected, rtol=REL_TOL, atol=ABS_TOL),
            lambda i: (
                f"voting_power: {voting_power[i]}, but its own part {kept[i]} plus "
                f"delegated_power {delegated_power[i]} is {expected[i]}"
            ),
        )
        inside = ok
        self.target[ids[inside]] = target[inside]
        carried = delegating & ~overrode
        np.add.at(self.carried_stake, target[carried], stake[carried])
        self.received[ids[inside]] = delegated_power[inside]
        self.delegators += int(np.count_nonzero(delegating))
        self.overrides += int(np.count_nonzero(overrode))
        self.delegated_stake.append(float(stake[delegating].sum()))
        self.overridden_stake.append(float(stake[overrode].sum()))
        voted = c.participated & ok
        self.power_cast.append(float(np.nan_to_num(delegated_power[voted]).sum()))
        self.voter_power.append(np.clip(np.nan_to_num(voting_power[voted]), 0.0, None))
        return p

    def finish(self) -> list[str]:
        """Rules across rows, and the rows against the ``delegation`` block."""
        if self.present == 0:
            if self.block is not None and self.absent:
                return [
                    "agents: the run delegates (it has a delegation block), but its agent "
                    f"records lack the columns {', '.join(DELEGATION_COLUMNS)}"
                ]
            return []
        if self.block is None:
            return [
                f"agents: the columns {', '.join(DELEGATION_COLUMNS)} are only written when the "
                "run delegates, and the record has no delegation block"
            ]
        assert self.target is not None
        assert self.carried_stake is not None and self.received is not None
        p: list[str] = []
        if self.absent:
            p.append(f"agents: {self.absent} rows lack the delegation columns, others have them")
        ids = np.flatnonzero(self.target >= 0)
        hop = self.target[ids]
        # a delegator's delegate must be self-delegated (its own row says so)
        two_hops = ids[(hop != ids) & (self.target[hop] != hop) & (self.target[hop] >= 0)]
        p += [
            f"agents: agent {i} delegates to {self.target[i]}, which delegates to "
            f"{self.target[self.target[i]]} (delegation is one hop)"
            for i in two_hops[:MAX_ROWS_REPORTED].tolist()
        ]
        wrong = np.flatnonzero(~np.isclose(self.received, self.carried_stake, REL_TOL, ABS_TOL))
        p += [
            f"agents: agent {j} has delegated_power {self.received[j]}, but the stakes of its "
            f"delegators that did not override sum to {self.carried_stake[j]}"
            for j in wrong[:MAX_ROWS_REPORTED].tolist()
        ]
        b = self.block
        for name, recorded, summed in (
            ("delegators", b.delegators, self.delegators),
            ("overrides", b.overrides, self.overrides),
        ):
            if recorded != summed:
                p.append(f"delegation.{name}: {recorded}, but the agent records count {summed}")
        for name, recorded_f, parts in (
            ("delegated_stake", b.delegated_stake, self.delegated_stake),
            ("overridden_stake", b.overridden_stake, self.overridden_stake),
            ("delegated_power_cast", b.delegated_power_cast, self.power_cast),
        ):
            summed_f = math.fsum(parts)
            if not _agree(recorded_f, summed_f):
                p.append(f"delegation.{name}: {recorded_f}, but the agent records give {summed_f}")
        measured = power_profile(np.concatenate([*self.voter_power, _attacker_power(self.record)]))
        w = b.with_delegation
        if (
            w.nakamoto != measured.nakamoto
            or not _agree(w.top10_share, measured.top10_share)
            or not _agree(w.gini, measured.gini)
        ):
            p.append(
                f"delegation.with_delegation: top10_share {w.top10_share}, nakamoto "
                f"{w.nakamoto}, gini {w.gini}, but the voting_power of the voters gives "
                f"{measured.top10_share}, {measured.nakamoto}, {measured.gini}"
            )
        return p
