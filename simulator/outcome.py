"""The outcome of a run over the votes cast: stake tallies, quorum, approval and pass/fail.

Abstainers keep their stake out of every tally. A proposal passes when the stake that voted
reaches the quorum (a share of the total stake) and its yes stake strictly exceeds its no stake.
Under rules v0.4 everyone votes and the quorum is 0, so this is the v0.4 outcome. Votes weigh by
voting power (``RunResult.voting_power``): the stake, or with delegation each voter's own stake
(unless delegated) plus the power delegated to it (docs/model.md 11.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator.params import RuleSet
from simulator.population import resolve_population

if TYPE_CHECKING:
    from simulator.model import RunResult

__all__ = ["Tally", "tally", "tally_votes"]


@dataclass(frozen=True)
class Tally:
    """Stake tallies over the votes cast and what they decide."""

    yes: float
    """Stake of the voters voting yes."""
    no: float
    cast: float
    """Stake of the voters (yes + no, exact: stakes are multiples of a quantum)."""
    total: float
    """Stake of every agent, voters or not."""
    quorum: float
    """Share of the total stake that must vote."""

    @property
    def quorum_met(self) -> bool:
        """Whether the stake cast reaches ``quorum`` of the total."""
        return self.cast >= self.quorum * self.total

    @property
    def passed(self) -> bool:
        """Quorum met and yes stake strictly above no stake."""
        return self.quorum_met and self.yes > self.no

    @property
    def approval(self) -> float:
        """Share of the stake cast voting yes (NaN when nobody voted)."""
        return self.yes / self.cast if self.cast > 0 else float("nan")


def tally_votes(
    stake: np.ndarray, votes: np.ndarray, participated: np.ndarray, quorum: float
) -> Tally:
    """Tally ``votes`` of the agents that ``participated``, weighted by ``stake``."""
    yes = float(stake[votes & participated].sum())
    no = float(stake[~votes & participated].sum())
    return Tally(yes=yes, no=no, cast=yes + no, total=float(stake.sum()), quorum=quorum)


def tally(result: RunResult, *, initial: bool = False) -> Tally:
    """The final (or, with ``initial``, the round-0) tally of a run; under a governance attack
    the attacker's own votes (borrowed power, sybils) count too."""
    quorum = 0.0
    if result.params.rules is RuleSet.V0_5:
        quorum = resolve_population(result.params).quorum
    votes = result.initial_votes if initial else result.influence.final_votes
    t = tally_votes(result.voting_power, votes, result.participated, quorum)
    return t if result.attack is None else result.attack.with_attacker(t)
