"""Consistency rules of a record's ``attack`` block (a governance attack, docs/model.md 11.3).

The block states what the attacker had and spent and whether it flipped the outcome; these rules
tie it to the run's parameters and tallies: the block is there exactly when the parameters name
an attack, the budget and the loan are the parameters' shares of the holders' voting power, no
more is spent than the budget (and, since a holder's price is at least its voting power, no more
voting power is bought than tokens spent), the holders and the attacker's own votes make up the
total, and ``succeeded`` is what the outcome and the outcome without the attack say. The rules
between the block and the per-agent rows (``bribed``) are in ``simulator.records.agent_rows``.
"""

from __future__ import annotations

from simulator.agents import STAKE_QUANTUM
from simulator.messages import shown
from simulator.params import AttackTarget
from simulator.records.agent_rows import stakes_agree
from simulator.records.schema import RunRecord

__all__ = ["attacker_votes", "check_attack"]


def attacker_votes(r: RunRecord) -> int:
    """Votes the attacker casts itself: its sybils and, when it borrows, the borrowing account."""
    a = r.attack
    return 0 if a is None else a.sybils + (1 if a.borrowed_power > 0 else 0)


def check_attack(r: RunRecord) -> list[str]:
    """Every disagreement between the ``attack`` block and the rest of the record."""
    a, params = r.attack, r.params
    wanted = params.attack_target
    if a is None:
        if wanted is not AttackTarget.NONE:
            return [f"attack: missing, but params.attack_target is {wanted.value}"]
        return []
    if wanted is AttackTarget.NONE:
        return ["attack: present, but params.attack_target is none (no attack)"]
    p: list[str] = []
    target_yes = a.target == "pass"
    if wanted is AttackTarget.AUTO and target_yes == a.passed_without_attack:
        p.append(
            f"attack.target: {a.target}, but an auto target is the opposite of "
            f"passed_without_attack {shown(a.passed_without_attack)}"
        )
    if wanted is not AttackTarget.AUTO and a.target != wanted.value:
        p.append(f"attack.target: {a.target}, but params.attack_target is {wanted.value}")
    flipped = r.votes.passed == target_yes and a.passed_without_attack != target_yes
    if a.succeeded != flipped:
        p.append(
            f"attack.succeeded: {shown(a.succeeded)}, but votes.passed is "
            f"{shown(r.votes.passed)}, passed_without_attack {shown(a.passed_without_attack)} "
            f"and the target {a.target}"
        )
    p += _resources(r)
    return p + _tallies(r)


def _resources(r: RunRecord) -> list[str]:
    a, params, n = r.attack, r.params, r.params.agents
    assert a is not None
    p: list[str] = []
    holders = a.holders_stake
    if not stakes_agree(a.budget, params.attack_budget * holders):
        p.append(
            f"attack.budget: {a.budget}, but params.attack_budget × holders_stake = "
            f"{params.attack_budget} × {holders} = {params.attack_budget * holders}"
        )
    if a.spent > a.budget and not stakes_agree(a.spent, a.budget):
        p.append(f"attack.spent: {a.spent} exceeds attack.budget = {a.budget}")
    if a.bribed_stake > a.spent and not stakes_agree(a.bribed_stake, a.spent):
        p.append(
            f"attack.bribed_stake: {a.bribed_stake} exceeds attack.spent = {a.spent} (a holder's "
            "price is at least its voting power)"
        )
    if a.bribed > n:
        p.append(f"attack.bribed: {a.bribed} exceeds params.agents = {n}")
    if a.bribed_abstainers > a.bribed:
        p.append(
            f"attack.bribed_abstainers: {a.bribed_abstainers} exceeds attack.bribed = {a.bribed}"
        )
    if (a.bribed == 0) != (a.bribed_stake == 0):
        p.append(f"attack.bribed_stake: {a.bribed_stake} with attack.bribed = {a.bribed}")
    loan = params.attack_borrowed_share * holders
    if abs(a.borrowed_power - loan) > STAKE_QUANTUM and not stakes_agree(a.borrowed_power, loan):
        p.append(
            f"attack.borrowed_power: {a.borrowed_power}, but params.attack_borrowed_share × "
            f"holders_stake = {loan} (to the nearest stake quantum)"
        )
    if a.sybils != params.attack_sybils:
        p.append(f"attack.sybils: {a.sybils}, but params.attack_sybils = {params.attack_sybils}")
    if a.sybil_edges > a.sybils * n:
        p.append(
            f"attack.sybil_edges: {a.sybil_edges} exceeds attack.sybils × params.agents = "
            f"{a.sybils * n} (a sybil links to each holder at most once)"
        )
    return p


def _tallies(r: RunRecord) -> list[str]:
    """The holders and the attacker's own votes make up the totals; those votes are the target's."""
    a, w = r.attack, r.votes.weighted
    assert a is not None
    p: list[str] = []
    own_power = a.borrowed_power + a.sybils * a.sybil_stake
    total = a.holders_stake + own_power
    if not stakes_agree(total, w.total_stake):
        p.append(
            f"votes.weighted.total_stake: {w.total_stake}, but attack.holders_stake + "
            f"borrowed_power + sybils × sybil_stake = {total}"
        )
    own_votes = attacker_votes(r)
    if r.turnout.votes_cast < own_votes:
        p.append(
            f"turnout.votes_cast: {r.turnout.votes_cast}, below the attacker's own {own_votes} "
            "votes"
        )
    side = "yes" if a.target == "pass" else "no"
    for phase in ("initial", "final"):
        count = getattr(getattr(r.votes, phase), side)
        if count < own_votes:
            p.append(
                f"votes.{phase}.{side}: {count}, below the attacker's own {own_votes} votes "
                f"(for its target, {a.target})"
            )
        stake = getattr(getattr(w, phase), side)
        if stake < own_power and not stakes_agree(stake, own_power):
            p.append(
                f"votes.weighted.{phase}.{side}: {stake}, below the voting power the attacker "
                f"casts itself ({own_power})"
            )
    return p
