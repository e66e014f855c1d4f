"""Cascade trees: who flipped whom, read off a flip trace and the influence network.

A trace (:mod:`simulator.trace`) lists every flip event: agent, round, previous vote, cause. It
says who moved when, not who moved whom. This module attributes each event to the earlier events
that caused it, with one deterministic rule (docs/model.md 11.5):

* The *trigger side* of an event is the vote whose count among the agent's neighbours made it
  flip: its new vote for a threshold flip and for a whale follower's flip, its old vote for a
  contrarian's threshold flip (it leaves a majority it is part of).
* Its *candidate parents* are the latest flips, before the event's round, of its neighbours
  (only whale neighbours for a whale-signal flip) that put those neighbours on the trigger side
  and still held at the event's round: the neighbours whose own flips, not their round-0 votes,
  make up part of the trigger count.
* An event without candidates is a *root*: the round-0 votes (or, for a whale follower, the
  whales' round-0 votes) caused it. Otherwise its *parent* in the tree is the latest candidate
  (the flip that completed the trigger; equal rounds: the lowest agent id), and each candidate
  gets ``1 / (number of candidates)`` of the credit for it (the DAG view).

Every event has one parent or none, and a parent's round is earlier, so the events form a forest
of cascade trees, each rooted at a root event. An agent's *influence* is the credit of the flips
it triggered directly. An event is *whale-driven* when its tree path from the root holds a
whale-signal flip. All of it is vectorized over the trace rows and the CSR adjacency (the
neighbour lists of the flipping agents, one ``searchsorted`` for the candidates, pointer jumping
for roots and depths); :func:`simulator.reference.reference_cascade_forest` restates the rule
event by event over networkx for the tests.

The same attribution is what the linear threshold model's live-edge view does (each activated node
keeps one incoming edge; Kempe, Kleinberg and Tardos 2003), and trees built this way are those
whose size and depth diffusion studies report (Goel, Anderson, Hofman and Watts 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from simulator.agents import CONTRARIAN, Agents
from simulator.trace import CAUSES, Cause, Trace

__all__ = ["CascadeForest", "TraceSummary", "cascade_forest", "summarise_forest"]

_WHALE_SIGNAL = CAUSES.index(Cause.WHALE_SIGNAL)


@dataclass(frozen=True, eq=False)
class CascadeForest:
    """The cascade trees of one trace: per event (trace row order) and per agent."""

    parent: np.ndarray
    """int64 row of the event's parent in the tree; -1 for a root."""
    candidates: np.ndarray
    """int32 number of candidate parents (0 for a root)."""
    root: np.ndarray
    """int64 row of the root of the event's tree (itself for a root)."""
    depth: np.ndarray
    """int32 generation in its tree: 0 for a root, parent's depth + 1 otherwise."""
    whale_driven: np.ndarray
    """bool: the tree path from its root to it holds a whale-signal flip (itself included)."""
    influence: np.ndarray
    """float64 per agent: the credit of the flips it triggered (sums to the non-root events)."""

    @property
    def roots(self) -> np.ndarray:
        """Rows of the root events, in trace order (one per tree)."""
        return np.flatnonzero(self.parent < 0)

    def tree_sizes(self) -> np.ndarray:
        """int64 events in each tree, in the order of ``roots``."""
        return np.bincount(self.root, minlength=len(self.root))[self.roots]

    def tree_depths(self) -> np.ndarray:
        """int32 largest depth in each tree, in the order of ``roots``."""
        deepest = np.zeros(len(self.root), dtype=np.int32)
        np.maximum.at(deepest, self.root, self.depth)
        return deepest[self.roots]


def cascade_forest(trace: Trace, adjacency: sparse.csr_array, agents: Agents) -> CascadeForest:
    """The cascade trees of ``trace`` over the influence network (module docstring).

    ``adjacency`` is the run's symmetric network over all agents (abstainers never flip, so they
    are never candidates; the rounds' network among voters gives the same forest).
    """
    n, e = len(agents), len(trace)
    if e == 0:
        none = np.zeros(0, dtype=np.int64)
        return CascadeForest(none, none.astype(np.int32), none, none.astype(np.int32),
                             none.astype(bool), np.zeros(n))  # fmt: skip
    agent = trace.agent.astype(np.int64)
    rnd = trace.round.astype(np.int64)
    to_vote = ~trace.from_vote
    by_whale = trace.cause == _WHALE_SIGNAL
    # the trigger side: the old vote for a contrarian's threshold flip, else the new one
    contrarian = (agents.archetype[agent] == CONTRARIAN) & ~by_whale
    trigger = np.where(contrarian, trace.from_vote, to_vote)
    # (event, neighbour) pairs; a whale follower's flip looks at its whale neighbours only
    rows = adjacency[agent]
    pair_event = np.repeat(np.arange(e, dtype=np.int64), np.diff(rows.indptr))
    neighbour = rows.indices.astype(np.int64)
    flipped = np.zeros(n, dtype=bool)
    flipped[agent] = True
    keep = flipped[neighbour]  # only neighbours that ever flipped can be candidates
    keep &= ~by_whale[pair_event] | agents.is_whale[neighbour]
    pair_event, neighbour = pair_event[keep], neighbour[keep]
    # each neighbour's latest flip before the event's round: events keyed by (agent, round)
    span = int(rnd.max()) + 1
    by_agent = np.lexsort((rnd, agent))
    keys = agent[by_agent] * span + rnd[by_agent]
    found = np.searchsorted(keys, neighbour * span + rnd[pair_event], side="left") - 1
    valid = found >= 0
    valid[valid] = agent[by_agent[found[valid]]] == neighbour[valid]
    flip = np.where(valid, by_agent[np.maximum(found, 0)], -1)
    valid &= to_vote[flip] == trigger[pair_event]
    child, cand = pair_event[valid], flip[valid]
    candidates = np.bincount(child, minlength=e).astype(np.int32)
    # DAG credit: 1 / (candidates) to each candidate's agent
    influence = np.bincount(agent[cand], weights=1.0 / candidates[child], minlength=n)
    # tree parent: the latest candidate, lowest agent id among equal rounds
    order = np.lexsort((-agent[cand], rnd[cand], child))
    last = np.flatnonzero(np.diff(child[order], append=-1) != 0)
    parent = np.full(e, -1, dtype=np.int64)
    parent[child[order[last]]] = cand[order[last]]
    root, depth, whale_driven = _climb(parent, by_whale)
    return CascadeForest(
        parent=parent,
        candidates=candidates,
        root=root,
        depth=depth,
        whale_driven=whale_driven,
        influence=influence,
    )


def _climb(parent: np.ndarray, by_whale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Root, depth and whale-driven flag of every event, by pointer jumping.

    After step k, ``jump`` is each event's ancestor 2^k generations up (or its root), ``depth``
    counts the generations to it and ``whale`` ORs the flags of the events on the way (the
    ancestor itself excluded); a root points at itself and adds nothing.
    """
    e = len(parent)
    jump = np.where(parent < 0, np.arange(e, dtype=np.int64), parent)
    depth = (parent >= 0).astype(np.int32)
    whale = by_whale.copy()
    while True:
        up = jump[jump]
        if np.array_equal(up, jump):
            break
        depth += depth[jump]
        whale |= whale[jump]
        jump = up
    whale |= whale[jump]  # the root's own flag
    return jump, depth, whale


@dataclass(frozen=True)
class TraceSummary:
    """A run's trace statistics (the record's ``trace_stats``)."""

    cascades: int
    whale_signal_cascades: int
    """Trees whose root is a whale follower's flip."""
    size_counts: list[tuple[int, int]]
    """(size, number of trees of that size), sizes increasing."""
    depth_counts: list[int]
    """Trees of depth 0, 1, ... up to the deepest."""
    influencers: int
    """Agents that triggered at least one flip."""
    top_influence: float
    """The largest influence of one agent."""
    changed_stake: float
    """Stake of the voters whose final vote differs from their round-0 vote."""
    whale_signal_stake: float
    """The part of it whose last flip is whale-driven."""
    whale_signal_share: float | None
    """whale_signal_stake / changed_stake; None when no final vote changed."""
    whale_signal_decisive: bool
    """Setting the whale-driven voters back to their round-0 votes changes the outcome."""


def summarise_forest(
    forest: CascadeForest,
    trace: Trace,
    *,
    stake: np.ndarray,
    initial: np.ndarray,
    final: np.ndarray,
    participated: np.ndarray,
    quorum_met: bool,
    passed: bool,
) -> TraceSummary:
    """The statistics of ``forest`` that a run record keeps."""
    sizes, depths = forest.tree_sizes(), forest.tree_depths()
    size_values, size_counts = np.unique(sizes, return_counts=True)
    depth_counts = np.bincount(depths) if len(depths) else np.zeros(0, dtype=np.int64)
    # the last flip of every agent that flipped sets its final vote
    last = np.full(len(stake), -1, dtype=np.int64)
    last[trace.agent] = np.arange(len(trace))  # rows in round order: the last write wins
    changed = (final != initial) & participated
    driven = changed.copy()
    driven[changed] = forest.whale_driven[last[changed]]
    changed_stake = float(stake[changed].sum())
    whale_stake = float(stake[driven].sum())
    votes = final.copy()
    votes[driven] = initial[driven]
    reverted = quorum_met and float(stake[votes & participated].sum()) > float(
        stake[~votes & participated].sum()
    )
    influence = forest.influence
    return TraceSummary(
        cascades=len(sizes),
        whale_signal_cascades=int(np.count_nonzero(trace.cause[forest.roots] == _WHALE_SIGNAL)),
        size_counts=[(int(s), int(c)) for s, c in zip(size_values, size_counts, strict=True)],
        depth_counts=[int(c) for c in depth_counts],
        influencers=int(np.count_nonzero(influence)),
        top_influence=float(influence.max()) if len(influence) else 0.0,
        changed_stake=changed_stake,
        whale_signal_stake=whale_stake,
        whale_signal_share=whale_stake / changed_stake if changed_stake > 0 else None,
        whale_signal_decisive=reverted != passed,
    )
