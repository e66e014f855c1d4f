"""Flip traces: every vote change of an influence phase, so a cascade can be rebuilt after the run.

A run's counters (flips per agent and per round, whale-signal follows) say how much changed but
not who moved whom. A trace keeps one row per flip event: the agent, the round, the vote it left
(``from_vote``; the vote it took is the other one) and the cause, either its neighbours (the
threshold rule) or the whale signal (a whale follower moved to the stake-weighted majority of its
whale neighbours). Joined with the network, the rows give cascade trees and influence attribution.

The engine collects a trace only when asked (``run_influence(..., trace=True)``): per round it
appends the round's flipped agent ids, their previous votes and their causes as arrays, and
concatenates them once at the end, so a run without a trace does no extra work. Rows are in round
order and, within a round, in agent order. Columns are compact: int32 agent and round, bool vote,
int8 cause code (a position in ``CAUSES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

__all__ = ["CAUSES", "Cause", "Trace", "TraceBuilder"]


class Cause(StrEnum):
    """Why an agent flipped in a round; its integer code is its position in ``CAUSES``."""

    NEIGHBOURS = "neighbours"
    """The threshold rule: the share of its neighbours voting the other way (for a contrarian,
    voting as it does) exceeded its threshold."""
    WHALE_SIGNAL = "whale_signal"
    """A whale follower took the side with the larger stake among its whale neighbours."""


CAUSES: tuple[Cause, ...] = tuple(Cause)
_NEIGHBOURS = CAUSES.index(Cause.NEIGHBOURS)
_WHALE_SIGNAL = CAUSES.index(Cause.WHALE_SIGNAL)


@dataclass(frozen=True, eq=False)
class Trace:
    """The flip events of one influence phase, one row per flip (round order, then agent order)."""

    agent: np.ndarray
    """int32 agent id (a global id: abstainers included in the numbering)."""
    round: np.ndarray
    """int32 influence round of the flip, 1-based."""
    from_vote: np.ndarray
    """bool vote before the flip (True = yes); the vote after it is the negation."""
    cause: np.ndarray
    """int8 code of the cause: a position in ``CAUSES``."""

    def __len__(self) -> int:
        return len(self.agent)

    @property
    def to_vote(self) -> np.ndarray:
        """bool vote after the flip."""
        return ~self.from_vote

    @classmethod
    def empty(cls) -> Trace:
        """A trace without rows."""
        return cls(
            agent=np.empty(0, dtype=np.int32),
            round=np.empty(0, dtype=np.int32),
            from_vote=np.empty(0, dtype=np.bool_),
            cause=np.empty(0, dtype=np.int8),
        )

    def relabel(self, ids: np.ndarray) -> Trace:
        """The same trace with agent ``i`` renamed ``ids[i]`` (a subgraph's ids made global)."""
        return Trace(
            agent=ids[self.agent].astype(np.int32),
            round=self.round,
            from_vote=self.from_vote,
            cause=self.cause,
        )


@dataclass
class TraceBuilder:
    """Collects a trace round by round; :meth:`build` concatenates the rounds once."""

    _agent: list[np.ndarray] = field(default_factory=list)
    _round: list[np.ndarray] = field(default_factory=list)
    _from: list[np.ndarray] = field(default_factory=list)
    _cause: list[np.ndarray] = field(default_factory=list)

    def add(self, t: int, agents: np.ndarray, from_vote: np.ndarray, whale: np.ndarray) -> None:
        """Round ``t``'s flips: agent ids, votes before the flip, and whether the whale signal
        (else the neighbours) caused each."""
        self._agent.append(agents.astype(np.int32))
        self._round.append(np.full(len(agents), t, dtype=np.int32))
        self._from.append(from_vote.astype(np.bool_))
        self._cause.append(np.where(whale, _WHALE_SIGNAL, _NEIGHBOURS).astype(np.int8))

    def build(self) -> Trace:
        """The trace of every round added so far."""
        if not self._agent:
            return Trace.empty()
        return Trace(
            agent=np.concatenate(self._agent),
            round=np.concatenate(self._round),
            from_vote=np.concatenate(self._from),
            cause=np.concatenate(self._cause),
        )
