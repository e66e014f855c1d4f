"""The model's vote and influence rules on hand-built networks with chosen agent attributes."""

from __future__ import annotations

import numpy as np
import pytest
from kit.engine import agents, graph

from simulator.errors import ParameterError
from simulator.model import initial_votes, run_influence, utilities
from simulator.params import Archetype, RuleSet
from simulator.proposal import Proposal

R = Archetype.RETAIL
W = Archetype.WHALE
C = Archetype.CONTRARIAN
O = Archetype.OPTIMIZER  # noqa: E741
I = Archetype.INSTITUTIONAL  # noqa: E741
S = Archetype.REPUTATION_SEEKER

# agent 0 votes no; its neighbours: whale 1 (yes), retail 2 and 3 (no)
STAR = graph(4, [(0, 1), (0, 2), (0, 3)])
STAR_VOTES = np.array([False, True, False, False])


def run(adjacency, population, votes, *, kappa=0.6, rounds=1):  # type: ignore[no-untyped-def]
    return run_influence(
        adjacency, population, np.asarray(votes), conformity_threshold=kappa, max_rounds=rounds
    )


@pytest.mark.parametrize(
    "conformity,follows", [(0.6, True), (0.95, True), (0.5999999, False), (0.0, False)]
)
def test_whale_signal_is_followed_only_at_or_above_the_conformity_threshold(
    conformity: float, follows: bool
) -> None:
    pop = agents([R, W, R, R], stake=[1, 1000, 1, 1], conformity=[conformity, 0, 0, 0])
    out = run(STAR, pop, STAR_VOTES, kappa=0.6)
    assert bool(out.final_votes[0]) is follows
    assert out.whale_signal_followers == int(follows)
    assert out.flip_round[0] == (1 if follows else 0)


def test_follower_takes_the_stake_weighted_whale_majority() -> None:
    # agent 0 votes yes; whales 1 and 2 (yes, 1000 each) are outweighed by whale 3 (no, 2500)
    g = graph(4, [(0, 1), (0, 2), (0, 3)])
    pop = agents([R, W, W, W], stake=[1, 1000, 1000, 2500], conformity=[1, 0, 0, 0])
    out = run(g, pop, [True, True, True, False])
    assert out.final_votes.tolist() == [False, True, True, False]


def test_follower_tracks_the_whale_majority_as_whales_flip_round_after_round() -> None:
    # follower 0 (yes) sees whale 1 (no, 3000) outweigh whale 2 (yes, 2000); whale 1 flips each
    # round (threshold 0, its neighbours 0 and 3 never both agree with it), moving the majority
    g = graph(4, [(0, 1), (0, 2), (1, 3)])
    pop = agents(
        [R, W, W, R], stake=[1, 3000, 2000, 1], conformity=[1, 0, 0, 0], threshold=[1, 0, 1, 1]
    )
    out = run_influence(
        g,
        pop,
        np.array([True, False, True, True]),
        conformity_threshold=0.6,
        max_rounds=3,
        rules=RuleSet.V0_4,
    )
    assert out.flips_per_round.tolist() == [2, 2, 2]
    assert out.flip_count.tolist() == [3, 3, 0, 0]
    assert out.whale_follows.tolist() == [3, 0, 0, 0]
    assert out.final_votes.tolist() == [False, True, True, True]


def test_follower_keeps_its_vote_on_a_whale_tie_and_ignores_its_threshold() -> None:
    # whales split 1000 vs 1000; every other neighbour disagrees and the threshold is 0
    g = graph(5, [(0, 1), (0, 2), (0, 3), (0, 4)])
    pop = agents(
        [R, W, W, R, R],
        stake=[1, 1000, 1000, 1, 1],
        conformity=[1, 0, 0, 0, 0],
        threshold=[0, 1, 1, 1, 1],
    )
    out = run(g, pop, [True, True, False, False, False])
    assert out.final_votes[0]
    assert out.flip_count.sum() == 0


@pytest.mark.parametrize("kind", [C, W])
def test_contrarians_and_whales_never_follow_whales(kind: Archetype) -> None:
    pop = agents([kind, W, R, R], stake=[5000, 1000, 1, 1], conformity=1.0, threshold=1.0)
    out = run(STAR, pop, STAR_VOTES, kappa=0.0)
    assert not out.final_votes[0]


@pytest.mark.parametrize(
    "agreeing,theta,flips",
    [(3, 0.5, True), (2, 0.5, False), (3, 0.7, True), (3, 0.75, False), (4, 0.99, True)],
)
def test_contrarian_flips_away_when_agreeing_share_exceeds_threshold(
    agreeing: int, theta: float, flips: bool
) -> None:
    g = graph(5, [(0, i) for i in range(1, 5)])
    votes = [True] + [i <= agreeing for i in range(1, 5)]
    pop = agents([C, R, R, R, R], threshold=[theta, 1, 1, 1, 1])
    out = run(g, pop, votes)
    assert bool(out.final_votes[0]) is (not flips)
    if flips:
        assert out.yes_to_no == 1 and out.no_to_yes == 0


@pytest.mark.parametrize(
    "disagreeing,theta,flips", [(2, 0.5, False), (3, 0.5, True), (1, 0.2, True), (4, 1.0, False)]
)
def test_others_flip_when_disagreeing_share_strictly_exceeds_threshold(
    disagreeing: int, theta: float, flips: bool
) -> None:
    g = graph(5, [(0, i) for i in range(1, 5)])
    votes = [False] + [i <= disagreeing for i in range(1, 5)]
    for kind in (O, S, I, R, W):
        pop = agents([kind, R, R, R, R], threshold=[theta, 1, 1, 1, 1])
        out = run(g, pop, votes)
        assert bool(out.final_votes[0]) is flips, kind


def test_no_flips_when_every_threshold_is_one_and_nobody_follows_whales() -> None:
    rng = np.random.default_rng(4)
    n = 60
    kinds = [list(Archetype)[k] for k in rng.integers(0, 6, n)]
    dense = np.triu(rng.random((n, n)) < 0.2, 1)
    g = graph(n, list(zip(*np.nonzero(dense), strict=True)))
    pop = agents(kinds, stake=rng.random(n) + 1, conformity=rng.random(n) * 0.9, threshold=1.0)
    votes = rng.random(n) < 0.5
    out = run(g, pop, votes, kappa=0.95, rounds=5)
    assert out.final_votes.tolist() == votes.tolist()
    assert out.flips_per_round.tolist() == [0]
    assert out.flip_count.sum() == 0 and not out.flip_round.any()


def test_isolated_agents_never_flip() -> None:
    g = graph(3, [(0, 1)])
    pop = agents([R, R, C], threshold=0.0, conformity=1.0)
    out = run(g, pop, [True, False, True], rounds=3)
    assert out.final_votes[2] and out.flip_count[2] == 0


def test_rounds_are_synchronous_and_bookkeeping_counts_every_flip() -> None:
    # two agents that each flip whenever their one neighbour disagrees swap votes every round
    g = graph(2, [(0, 1)])
    pop = agents([R, R], threshold=0.0)
    out = run(g, pop, [True, False], rounds=4)
    assert out.flips_per_round.tolist() == [2, 2, 2, 2]
    assert out.flip_count.tolist() == [4, 4]
    assert out.flip_round.tolist() == [1, 1]
    assert out.yes_to_no == out.no_to_yes == 4
    assert out.final_votes.tolist() == [True, False]
    assert out.rounds_run == 4


def test_stops_after_the_first_round_without_flips() -> None:
    # the centre of a star joins its unanimous leaves in round 1; round 2 changes nothing
    g = graph(4, [(0, 1), (0, 2), (0, 3)])
    pop = agents([R, R, R, R], threshold=[0.5, 1, 1, 1])
    out = run(g, pop, [False, True, True, True], rounds=10)
    assert out.flips_per_round.tolist() == [1, 0]
    assert out.rounds_run == 2
    assert out.final_votes.all()
    assert out.flip_round.tolist() == [1, 0, 0, 0]


def test_mismatched_inputs_are_rejected() -> None:
    with pytest.raises(ParameterError, match="must agree"):
        run(STAR, agents([R, R, R]), [True, False, True])
    with pytest.raises(ParameterError, match="must agree"):
        run(STAR, agents([R, R, R, R]), [1, 0, 0, 0])


PROPOSAL = Proposal(risk=0.8, yield_=0.6, complexity=0.2)


@pytest.mark.parametrize(
    "kind,rho,noise,utility",
    [
        (O, 0.9, 0.0, 0.6 - 0.1 * 0.8 - 0.25),
        (O, 0.1, 0.0, 0.6 - 0.9 * 0.8 - 0.25),
        (C, 0.9, 0.0, -(0.6 - 0.1 * 0.8 - 0.25)),
        (C, 0.1, 0.0, -(0.6 - 0.9 * 0.8 - 0.25)),
        (S, 0.5, 0.0, (0.4 - 0.5) + 0.5 * 0.3),
        (I, 0.5, 0.0, 0.6 - 0.5 * 0.8 - 0.1),
        (R, 0.9, -0.5, 0.6 - 0.1 * 0.8 - 0.25 - 0.5),
        (R, 0.9, 0.0, 0.6 - 0.1 * 0.8 - 0.25),
        (W, 0.9, 0.0, 0.1 + 0.4 * 0.8),
        (W, 0.1, 0.0, 0.1 - 0.4 * 0.8),
    ],
)
def test_round_zero_utilities(kind: Archetype, rho: float, noise: float, utility: float) -> None:
    pop = agents([kind], risk_tolerance=rho, noise=noise)
    assert utilities(pop, PROPOSAL)[0] == pytest.approx(utility, abs=1e-12)
    assert bool(initial_votes(pop, PROPOSAL)[0]) is (utility > 0)


def test_archetypes_decide_differently_on_the_same_proposal() -> None:
    kinds = [O, S, C, I, R, W]
    pop = agents(kinds, risk_tolerance=0.5)
    complex_risky = Proposal(risk=0.9, yield_=0.75, complexity=0.9)
    votes = dict(zip(kinds, initial_votes(pop, complex_risky).tolist(), strict=True))
    # u: optimizer 0.75 - 0.45 - 0.25 > 0, seeker -0.075 - 0.2, contrarian -0.05,
    # institutional 0.75 - 0.45 - 0.45, retail = optimizer (no noise), whale 0.25 + 0
    assert votes == {O: True, S: False, C: False, I: False, R: True, W: True}
    safe_simple = Proposal(risk=0.1, yield_=0.6, complexity=0.1)
    assert initial_votes(pop, safe_simple).tolist() == [True, True, False, True, True, True]
