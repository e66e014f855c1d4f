"""The v0.5 cascade rules and update schedules on hand-built networks, and their end states."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit.engine import agents, graph

from simulator.errors import ParameterError
from simulator.model import Ending, Influence, run_influence
from simulator.params import Archetype, RuleSet, Schedule

R = Archetype.RETAIL
W = Archetype.WHALE
C = Archetype.CONTRARIAN
O = Archetype.OPTIMIZER  # noqa: E741

V04, V05 = RuleSet.V0_4, RuleSet.V0_5
SYNC, RANDOM = Schedule.SYNCHRONOUS, Schedule.RANDOM_FRACTION


def run(  # type: ignore[no-untyped-def]
    adjacency,
    population,
    votes,
    *,
    rules=V05,
    schedule=SYNC,
    rounds=50,
    kappa=0.6,
    fraction=0.5,
    seed=None,
) -> Influence:
    return run_influence(
        adjacency,
        population,
        np.asarray(votes, dtype=bool),
        conformity_threshold=kappa,
        max_rounds=rounds,
        rules=rules,
        schedule=schedule,
        update_fraction=fraction,
        rng=None if seed is None else np.random.default_rng(seed),
    )


# agent 0 votes no; two of its four neighbours vote yes: a tie, not a majority
TIE = graph(5, [(0, i) for i in range(1, 5)])
TIE_VOTES = [False, True, True, False, False]


@pytest.mark.parametrize(
    "rules,theta,flips",
    [(V04, 0.2, True), (V04, 0.49, True), (V05, 0.2, False), (V05, 0.49, False), (V05, 0.5, False)],
)
def test_a_tie_flips_a_low_threshold_agent_only_under_v04(
    rules: RuleSet, theta: float, flips: bool
) -> None:
    pop = agents([R, R, R, R, R], threshold=[theta, 1, 1, 1, 1])
    out = run(TIE, pop, TIE_VOTES, rules=rules, rounds=1)
    assert bool(out.final_votes[0]) is flips


@pytest.mark.parametrize(
    "disagreeing,theta,flips", [(3, 0.2, True), (3, 0.8, False), (4, 0.8, True)]
)
def test_v05_flips_toward_a_strict_majority_beyond_the_threshold(
    disagreeing: int, theta: float, flips: bool
) -> None:
    votes = [False] + [i <= disagreeing for i in range(1, 5)]
    pop = agents([O, R, R, R, R], threshold=[theta, 1, 1, 1, 1])
    assert bool(run(TIE, pop, votes, rounds=1).final_votes[0]) is flips


@pytest.mark.parametrize("agreeing,theta,flips", [(2, 0.2, False), (3, 0.2, True), (3, 0.8, False)])
def test_v05_contrarian_leaves_only_a_strict_majority_it_is_part_of(
    agreeing: int, theta: float, flips: bool
) -> None:
    votes = [True] + [i <= agreeing for i in range(1, 5)]
    pop = agents([C, R, R, R, R], threshold=[theta, 1, 1, 1, 1])
    assert bool(run(TIE, pop, votes, rounds=1).final_votes[0]) is (not flips)


def test_two_disagreeing_neighbours_swap_forever_and_the_run_ends_in_a_cycle() -> None:
    pair = graph(2, [(0, 1)])
    pop = agents([R, R], threshold=0.3)
    out = run(pair, pop, [True, False])
    assert out.ending is Ending.CYCLE and out.period == 2
    assert out.flips_per_round.tolist() == [2, 2]
    assert out.final_votes.tolist() == [True, False]  # votes after round 2 = round-0 votes
    assert out.converged_round is None
    # v0.4 has no cycle detection: the same pair runs to the cap
    v04 = run(pair, pop, [True, False], rules=V04, rounds=5)
    assert v04.ending is Ending.ROUND_CAP and v04.flips_per_round.tolist() == [2] * 5


def test_a_follower_and_its_whale_swap_and_the_cycle_is_detected() -> None:
    # whale 1 sees only follower 0 (disagreeing) and flips; 0 follows 1's previous vote
    pair = graph(2, [(0, 1)])
    pop = agents([R, W], stake=[1, 1000], conformity=[1, 0], threshold=[1, 0.4])
    out = run(pair, pop, [False, True])
    assert out.ending is Ending.CYCLE
    assert out.flips_per_round.tolist() == [2, 2]
    assert out.whale_signal_followers == 2


def test_a_three_round_cascade_reports_the_round_it_converged_in() -> None:
    # yes spreads one hop per round along 2-1-0, each of which has one stubborn yes neighbour
    # (3 and 4 for agent 2, 5 for 1, 6 for 0): a tie does not flip, a 2-of-3 majority does
    g = graph(7, [(0, 1), (0, 6), (1, 2), (1, 5), (2, 3), (2, 4)])
    pop = agents([R] * 7, threshold=[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    out = run(g, pop, [False, False, False, True, True, True, True])
    assert out.flips_per_round.tolist() == [1, 1, 1, 0]
    assert out.flip_round.tolist() == [3, 2, 1, 0, 0, 0, 0]
    assert out.ending is Ending.CONVERGED and out.period == 1
    assert out.converged_round == 3 and out.rounds_run == 4


def test_converged_from_the_start_is_round_zero() -> None:
    pop = agents([R, R], threshold=0.5)
    out = run(graph(2, [(0, 1)]), pop, [True, True])
    assert out.flips_per_round.tolist() == [0]
    assert out.ending is Ending.CONVERGED and out.converged_round == 0


def test_a_contrarian_dissents_once_so_a_knife_edge_pair_settles() -> None:
    # contrarian 0 and retail 1 agree; each also sees two yes and two no voters
    edges = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 2), (1, 3), (1, 4), (1, 5)]
    g = graph(6, edges)
    pop = agents([C, R, R, R, R, R], threshold=[0.55, 0.5, 1, 1, 1, 1])
    votes = [False, False, True, True, False, False]
    out = run(g, pop, votes)
    # round 1: 0 leaves the 3-of-5 majority; round 2: 1 follows it (3 of 5 now vote yes)
    assert out.flips_per_round.tolist() == [1, 1, 0]
    assert out.ending is Ending.CONVERGED
    assert out.flip_count.tolist() == [1, 1, 0, 0, 0, 0]
    # under v0.4 the contrarian keeps running from the retail agent, which keeps following
    v04 = run(g, pop, votes, rules=V04, rounds=8)
    assert v04.ending is Ending.ROUND_CAP and v04.flip_count[0] == 4


def test_random_schedule_reproduces_under_a_seed_and_differs_under_another() -> None:
    rng = np.random.default_rng(11)
    n = 300
    dense = np.triu(rng.random((n, n)) < 0.03, 1)
    g = graph(n, list(zip(*np.nonzero(dense), strict=True)))
    pop = agents([R] * n, threshold=rng.random(n))
    votes = rng.random(n) < 0.5
    a = run(g, pop, votes, schedule=RANDOM, seed=5)
    b = run(g, pop, votes, schedule=RANDOM, seed=5)
    c = run(g, pop, votes, schedule=RANDOM, seed=6)
    assert a.ending is Ending.CONVERGED
    assert np.array_equal(a.flip_round, b.flip_round)
    assert a.flips_per_round.tolist() == b.flips_per_round.tolist()
    assert not np.array_equal(a.flip_round, c.flip_round)
    # a synchronous run of the same agents ends in a cycle or converges much faster
    sync = run(g, pop, votes)
    assert sync.rounds_run < a.rounds_run


def test_random_schedule_converges_only_when_nobody_would_flip() -> None:
    # with a small update fraction many rounds pass with no flip before the pair agrees
    pair = graph(2, [(0, 1)])
    pop = agents([R, R], threshold=0.3)
    out = run(pair, pop, [True, False], schedule=RANDOM, fraction=0.05, seed=3, rounds=1000)
    per_round = out.flips_per_round.tolist()
    assert out.ending is Ending.CONVERGED and per_round[-1] == 0
    assert 0 in per_round[:-1]  # quiet rounds that did not end the run
    assert out.final_votes[0] == out.final_votes[1]
    assert out.converged_round == max(i + 1 for i, k in enumerate(per_round) if k)


def test_random_schedule_needs_a_generator_and_rules_v05() -> None:
    pair, pop = graph(2, [(0, 1)]), agents([R, R])
    with pytest.raises(ParameterError, match="generator"):
        run(pair, pop, [True, False], schedule=RANDOM)
    with pytest.raises(ParameterError, match=r"v0\.5"):
        run(pair, pop, [True, False], rules=V04, schedule=RANDOM, seed=1)


def test_v04_reports_converged_or_round_cap() -> None:
    star = graph(4, [(0, 1), (0, 2), (0, 3)])
    pop = agents([R, R, R, R], threshold=[0.5, 1, 1, 1])
    votes = [False, True, True, True]
    assert run(star, pop, votes, rules=V04, rounds=1).ending is Ending.ROUND_CAP
    done = run(star, pop, votes, rules=V04, rounds=3)
    assert done.ending is Ending.CONVERGED and done.converged_round == 1


@st.composite
def random_state(
    draw: st.DrawFn,
) -> tuple[int, list[tuple[int, int]], list[Archetype], list[float]]:
    n = draw(st.integers(2, 25))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=60))
    kinds = draw(st.lists(st.sampled_from([O, R, C, W]), min_size=n, max_size=n))
    thetas = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    return n, edges, kinds, thetas


@settings(max_examples=150, deadline=None)
@given(state=random_state(), seed=st.integers(0, 2**32), schedule=st.sampled_from(list(Schedule)))
def test_v05_threshold_flips_never_go_into_the_local_minority(
    state: tuple[int, list[tuple[int, int]], list[Archetype], list[float]],
    seed: int,
    schedule: Schedule,
) -> None:
    n, edges, kinds, thetas = state
    g = graph(n, edges) if edges else graph(n, [(0, 1)])
    rng = np.random.default_rng(seed)
    pop = agents(kinds, stake=rng.random(n) * 1000 + 1, threshold=thetas)
    votes = rng.random(n) < 0.5
    # one round at a time, each from the previous round's votes (followers are switched off)
    for _ in range(6):
        out = run(g, pop, votes, schedule=schedule, rounds=1, kappa=2.0, seed=seed)
        flipped = np.flatnonzero(out.final_votes != votes)
        degree = np.diff(g.indptr)
        for i in flipped:
            nbrs = g.indices[g.indptr[i] : g.indptr[i + 1]]
            same = int(np.count_nonzero(votes[nbrs] == votes[i]))
            tested = same if kinds[i] is C else degree[i] - same
            assert 2 * tested > degree[i], (i, kinds[i], tested, degree[i])
            assert tested / degree[i] > thetas[i]
        votes = out.final_votes
        seed += 1
