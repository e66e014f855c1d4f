"""Cascade trees of flip traces: the attribution rule by hand, and against the networkx reference.

Hand-built graphs and traces with the parents, depths, trees and credit worked out by hand; then
random traces on small random graphs against :func:`simulator.reference.reference_cascade_forest`
(a loop over events and neighbours on a networkx graph), and whole runs against the reference
engine's forest.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from simulator.agents import CONTRARIAN, WHALE, Agents
from simulator.cascade_tree import CascadeForest, cascade_forest, summarise_forest
from simulator.model import simulate
from simulator.params import SimParams
from simulator.reference import reference_cascade_forest, reference_simulate
from simulator.trace import CAUSES, Cause, Trace

OTHER = 0  # an optimizer: the plain threshold rule
N_, W_ = CAUSES.index(Cause.NEIGHBOURS), CAUSES.index(Cause.WHALE_SIGNAL)


def agents_of(codes: list[int], stake: list[float] | None = None) -> Agents:
    n = len(codes)
    return Agents(
        archetype=np.array(codes, dtype=np.int8),
        stake=np.ones(n) if stake is None else np.array(stake),
        risk_tolerance=np.full(n, 0.5), conformity=np.full(n, 0.5), threshold=np.full(n, 0.5),
        noise=np.zeros(n),
    )  # fmt: skip


def graph_of(n: int, edges: list[tuple[int, int]]) -> sparse.csr_array:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    return sparse.csr_array(nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr"))


def trace_of(rows: list[tuple[int, int, bool, int]]) -> Trace:
    """(agent, round, from_vote, cause code) rows, sorted as a trace is: round, then agent."""
    rows = sorted(rows, key=lambda r: (r[1], r[0]))
    return Trace(
        agent=np.array([r[0] for r in rows], dtype=np.int32),
        round=np.array([r[1] for r in rows], dtype=np.int32),
        from_vote=np.array([r[2] for r in rows], dtype=bool),
        cause=np.array([r[3] for r in rows], dtype=np.int8),
    )


def test_a_chain_on_a_path() -> None:
    # path 0 - 1 - 2 - 3, everyone votes no; 1 flips to yes in round 1 (its neighbours' round-0
    # votes: a root), then 0 and 2 in round 2 (each has 1's flip to yes), then 3 in round 3.
    adjacency = graph_of(4, [(0, 1), (1, 2), (2, 3)])
    trace = trace_of([(1, 1, False, N_), (0, 2, False, N_), (2, 2, False, N_), (3, 3, False, N_)])
    f = cascade_forest(trace, adjacency, agents_of([OTHER] * 4))
    # rows: 0 = (1, r1), 1 = (0, r2), 2 = (2, r2), 3 = (3, r3)
    assert f.parent.tolist() == [-1, 0, 0, 2]
    assert f.depth.tolist() == [0, 1, 1, 2]
    assert f.root.tolist() == [0, 0, 0, 0]
    assert f.tree_sizes().tolist() == [4] and f.tree_depths().tolist() == [2]
    assert f.influence.tolist() == [0.0, 2.0, 1.0, 0.0]  # 1 moved 0 and 2; 2 moved 3
    assert f.candidates.tolist() == [0, 1, 1, 1]
    assert not f.whale_driven.any()


def test_only_flips_toward_the_trigger_side_that_still_hold_are_parents() -> None:
    # star around 0: 1 flips to yes in round 1 and back to no in round 2; 2 flips to yes in
    # round 2; 3 flips to yes in round 3 (same round as 0: not a parent). 0 flips to yes in
    # round 3: 1's last flip (to no) does not count, 2's does, 3's is not earlier.
    adjacency = graph_of(4, [(0, 1), (0, 2), (0, 3)])
    trace = trace_of([(1, 1, False, N_), (1, 2, True, N_), (2, 2, False, N_),
                      (0, 3, False, N_), (3, 3, False, N_)])  # fmt: skip
    f = cascade_forest(trace, adjacency, agents_of([OTHER] * 4))
    # rows: 0 = (1, r1), 1 = (1, r2), 2 = (2, r2), 3 = (0, r3), 4 = (3, r3)
    assert f.parent.tolist() == [-1, -1, -1, 2, -1]
    assert f.candidates.tolist() == [0, 0, 0, 1, 0]
    assert f.tree_sizes().tolist() == [1, 1, 2, 1]


def test_the_latest_candidate_is_the_parent_and_credit_is_shared() -> None:
    # 0 has neighbours 1, 2, 3; 3 flips to yes in round 1, 1 and 2 in round 2; 0 in round 4.
    # Candidates: all three; the latest round is 2, and of 1 and 2 the lower id, 1, is the parent.
    adjacency = graph_of(4, [(0, 1), (0, 2), (0, 3)])
    trace = trace_of([(3, 1, False, N_), (1, 2, False, N_), (2, 2, False, N_), (0, 4, False, N_)])
    f = cascade_forest(trace, adjacency, agents_of([OTHER] * 4))
    # rows: 0 = (3, r1), 1 = (1, r2), 2 = (2, r2), 3 = (0, r4)
    assert f.parent.tolist() == [-1, -1, -1, 1]
    assert f.candidates.tolist() == [0, 0, 0, 3]
    assert f.influence == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])
    assert f.depth.tolist() == [0, 0, 0, 1]


def test_a_contrarian_is_triggered_by_neighbours_joining_its_side() -> None:
    # 0 (contrarian, yes) and 2 (optimizer, yes) each have neighbour 1, which flips no -> yes in
    # round 1. In round 2 the contrarian leaves the majority it is part of (trigger: its old vote,
    # yes): 1's flip is its parent. The optimizer flipping yes -> no in round 2 has the trigger
    # side no, which 1's flip did not join: a root.
    adjacency = graph_of(3, [(0, 1), (1, 2)])
    trace = trace_of([(1, 1, False, N_), (0, 2, True, N_), (2, 2, True, N_)])
    f = cascade_forest(trace, adjacency, agents_of([CONTRARIAN, OTHER, OTHER]))
    assert f.parent.tolist() == [-1, 0, -1]


def test_a_whale_followers_flip_descends_from_whale_flips_only() -> None:
    # follower 0 has neighbours 1 (whale) and 2 (optimizer); both flip to yes in round 1; the
    # follower takes the whale side in round 2: only the whale's flip is a candidate. Follower 3,
    # next to whale 4 that never flipped, follows the whales' round-0 votes: a whale-signal root.
    adjacency = graph_of(5, [(0, 1), (0, 2), (3, 4)])
    trace = trace_of([(1, 1, False, N_), (2, 1, False, N_), (0, 2, False, W_),
                      (3, 2, False, W_)])  # fmt: skip
    f = cascade_forest(trace, adjacency, agents_of([OTHER, WHALE, OTHER, OTHER, WHALE]))
    # rows: 0 = (1, r1), 1 = (2, r1), 2 = (0, r2), 3 = (3, r2)
    assert f.parent.tolist() == [-1, -1, 0, -1]
    assert f.influence.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert f.whale_driven.tolist() == [False, False, True, True]


def test_whale_driven_passes_down_the_tree() -> None:
    # whale 1 flips (threshold rule) in round 1; follower 0 follows it in round 2; optimizer 2,
    # next to 0 only, then flips in round 3: its path from the root holds the follower's flip.
    adjacency = graph_of(3, [(0, 1), (0, 2)])
    trace = trace_of([(1, 1, False, N_), (0, 2, False, W_), (2, 3, False, N_)])
    f = cascade_forest(trace, adjacency, agents_of([OTHER, WHALE, OTHER]))
    assert f.parent.tolist() == [-1, 0, 1]
    assert f.whale_driven.tolist() == [False, True, True]
    assert f.depth.tolist() == [0, 1, 2]


def test_an_empty_trace() -> None:
    f = cascade_forest(trace_of([]), graph_of(3, [(0, 1)]), agents_of([OTHER] * 3))
    assert len(f.parent) == 0 and f.influence.tolist() == [0.0, 0.0, 0.0]
    assert f.tree_sizes().tolist() == [] and f.tree_depths().tolist() == []


def test_summary_of_a_hand_built_forest() -> None:
    # Stakes 5, 1, 1, 2 and everyone votes; initial votes: 0 and 3 no, 1 and 2 yes (yes 2, no 7).
    # Follower 0 (stake 5) follows whale 1 to yes in round 1 (a whale-signal root); 3 flips to
    # yes in round 2 by its neighbour 0. Final: yes 9, no 0. Changed stake 5 + 2 = 7, all of it
    # whale-driven; setting 0 and 3 back gives yes 2, no 7: a fail, so the signal was decisive.
    adjacency = graph_of(4, [(0, 1), (0, 3), (1, 2)])
    trace = trace_of([(0, 1, False, W_), (3, 2, False, N_)])
    agents = agents_of([OTHER, WHALE, OTHER, OTHER], stake=[5.0, 1.0, 1.0, 2.0])
    f = cascade_forest(trace, adjacency, agents)
    initial = np.array([False, True, True, False])
    final = np.array([True, True, True, True])
    s = summarise_forest(f, trace, stake=agents.stake, initial=initial, final=final,
                         participated=np.ones(4, dtype=bool), quorum_met=True,
                         passed=True)  # fmt: skip
    assert (s.cascades, s.whale_signal_cascades) == (1, 1)
    assert s.size_counts == [(2, 1)] and s.depth_counts == [0, 1]
    assert (s.influencers, s.top_influence) == (1, 1.0)
    assert (s.changed_stake, s.whale_signal_stake, s.whale_signal_share) == (7.0, 7.0, 1.0)
    assert s.whale_signal_decisive is True
    unchanged = summarise_forest(f, trace, stake=agents.stake, initial=final, final=final,
                                 participated=np.ones(4, dtype=bool), quorum_met=True,
                                 passed=True)  # fmt: skip
    assert unchanged.whale_signal_share is None and unchanged.changed_stake == 0.0


def _random_case(seed: int) -> tuple[nx.Graph, Trace, Agents]:
    """A random graph, archetypes (some contrarians and whales) and a random consistent trace."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 40))
    graph = nx.gnp_random_graph(n, float(rng.uniform(0.05, 0.3)), seed=seed)
    codes = rng.choice([OTHER, OTHER, 1, 4, CONTRARIAN, WHALE], size=n)
    votes = rng.random(n) < 0.5
    rows = []
    for rnd in range(1, int(rng.integers(2, 10))):
        for agent in np.flatnonzero(rng.random(n) < 0.2).tolist():
            whale_ok = codes[agent] not in (WHALE, CONTRARIAN)
            cause = W_ if whale_ok and rng.random() < 0.3 else N_
            rows.append((agent, rnd, bool(votes[agent]), cause))
            votes[agent] = not votes[agent]
    return graph, trace_of(rows), agents_of(codes.tolist())


def _same(a: CascadeForest, b: CascadeForest) -> None:
    for name in ("parent", "candidates", "root", "depth", "whale_driven"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.allclose(a.influence, b.influence)


@pytest.mark.parametrize("seed", range(60))
def test_random_traces_match_the_networkx_reference(seed: int) -> None:
    graph, trace, agents = _random_case(seed)
    adjacency = sparse.csr_array(nx.to_scipy_sparse_array(graph, nodelist=range(len(agents))))
    fast = cascade_forest(trace, adjacency, agents)
    _same(fast, reference_cascade_forest(graph, trace, agents))
    # every event is in exactly one tree, and the credit adds up to the non-root events
    assert fast.tree_sizes().sum() == len(trace)
    assert fast.influence.sum() == pytest.approx(len(trace) - len(fast.roots))


@pytest.mark.parametrize(
    "params",
    [
        {"agents": 600, "mean_degree": 30, "schedule": "synchronous", "cascade_rounds": 12,
         "conformity_threshold": 0.3},
        {"agents": 300, "rules": "v0.4", "network_density": 0.04, "cascade_rounds": 15},
        {"agents": 800},
    ],
    ids=["v05-synchronous", "v04", "v05-defaults"],
)  # fmt: skip
def test_engine_runs_match_the_reference_engine(params: dict[str, object]) -> None:
    p = SimParams.model_validate(params)
    for seed in (1, 2):
        fast, slow = simulate(p, seed, trace=True), reference_simulate(p, seed, trace=True)
        assert fast.cascades is not None and slow.cascades is not None
        _same(fast.cascades, slow.cascades)


def test_traces_and_forests_are_reproducible() -> None:
    p = SimParams(agents=1500, mean_degree=20)
    a, b, c = (simulate(p, s, trace=True) for s in (3, 3, 4))
    assert a.cascades is not None and b.cascades is not None and c.cascades is not None
    _same(a.cascades, b.cascades)
    assert not np.array_equal(a.cascades.parent, c.cascades.parent)
    assert simulate(p, 3).cascades is None  # no trace, no forest
