"""Governance attacks: prices, the greedy purchase, sybil links, committed votes and whole runs.

Small cases are worked out by hand (who is bought with a given budget, what a loan does to the
quorum); the purchase is checked against a plain loop, the attacked influence rounds against the
plain-Python reference, and whole runs against the same run without the attack.
"""

from __future__ import annotations

import dataclasses
import itertools
from functools import partial

import numpy as np
import pytest
from kit.engine import agents, graph
from pydantic import ValidationError
from scipy import sparse

from simulator.agents import Agents
from simulator.attack import (
    SYBIL_STAKE,
    AttackedVote,
    attach_sybils,
    bribe_prices,
    committed,
    purchase,
    run_attack,
    sybil_links,
)
from simulator.errors import ParameterError
from simulator.memory import run_memory_bytes
from simulator.model import Influence, influence_among_voters, simulate
from simulator.network import build_network, erdos_renyi
from simulator.outcome import Tally, tally, tally_votes
from simulator.params import Archetype, RuleSet, Schedule, SimParams
from simulator.population import (
    draw_participation,
    draw_population,
    population_utilities,
    resolve_population,
)
from simulator.proposal import draw_vetted_proposal
from simulator.reference import reference_influence, reference_simulate, to_networkx
from simulator.seeding import make_rng, run_seed

OPT, R, W = Archetype.OPTIMIZER, Archetype.RETAIL, Archetype.WHALE


def attack(**kw: object) -> SimParams:
    return SimParams.model_validate({"agents": 300, "attack_target": "auto"} | kw)


# --- prices and the purchase -------------------------------------------------------------------


def test_price_is_power_times_one_plus_opposition() -> None:
    power = np.array([10.0, 20.0, 5.0])
    utility = np.array([0.5, -1.0, 0.2])
    unit, price = bribe_prices(power, utility, target_yes=True)
    assert unit.tolist() == [1.0, 2.0, 1.0]  # only holder 1 opposes a pass, by 1.0
    assert price.tolist() == [10.0, 40.0, 5.0]
    unit, price = bribe_prices(power, utility, target_yes=False)
    assert unit.tolist() == [1.5, 1.0, 1.2]
    assert price.tolist() == [15.0, 20.0, 6.0]
    assert utility.tolist() == [0.5, -1.0, 0.2]  # the input is left as it was


# power, unit price; order: 2 (5 at 1), 0 (10 at 1), 3 (12 at 1.5), 1 (40 at 2), 4 (3 at 3)
POWER = np.array([10.0, 20.0, 5.0, 8.0, 1.0])
UNIT = np.array([1.0, 2.0, 1.0, 1.5, 3.0])


@pytest.mark.parametrize(
    ("budget", "bought", "spent"),
    [
        (0.0, [], 0.0),
        (4.0, [4], 3.0),  # 5, 10, 12 and 40 do not fit; the last, 3, does
        (5.0, [2], 5.0),  # then 3 more would make 8 > 5
        (15.0, [0, 2], 15.0),  # 5 + 10; 12 and 40 and 3 do not fit in what is left (0)
        (20.0, [0, 2, 4], 18.0),  # 5 + 10, skip 12 and 40, then 3
        (27.0, [0, 2, 3], 27.0),  # 5 + 10 + 12: nothing left for the 3 bought at 20
        (70.0, [0, 1, 2, 3, 4], 70.0),  # everyone: 5 + 10 + 12 + 40 + 3
    ],
)
def test_purchase_goes_down_the_price_list_buying_what_it_can_afford(
    budget: float, bought: list[int], spent: float
) -> None:
    ids, paid = purchase(POWER, UNIT, np.ones(5, dtype=bool), budget)
    assert ids.tolist() == bought
    assert paid == spent


def test_purchase_skips_non_candidates_and_breaks_ties_by_power_then_id() -> None:
    candidate = np.array([True, True, False, True, True])
    ids, paid = purchase(POWER, UNIT, candidate, 15.0)  # 2 is not for sale: 0 (10), then 4 (3)
    assert (ids.tolist(), paid) == ([0, 4], 13.0)
    # equal unit prices: the smaller holder first, equal holders in id order
    ids, _ = purchase(np.array([5.0, 3.0, 3.0]), np.ones(3), np.ones(3, dtype=bool), 3.0)
    assert ids.tolist() == [1]
    ids, _ = purchase(np.array([5.0, 3.0, 3.0]), np.ones(3), np.ones(3, dtype=bool), 6.0)
    assert ids.tolist() == [1, 2]


def loop_purchase(
    power: np.ndarray, unit: np.ndarray, candidate: np.ndarray, budget: float
) -> tuple[list[int], float]:
    """The rule as a plain loop: sort the candidates, then buy each one still affordable."""
    order = sorted(
        (i for i in range(len(power)) if candidate[i] and power[i] > 0),
        key=lambda i: (unit[i], power[i], i),
    )
    paid, bought = 0.0, []
    for i in order:
        price = float(power[i] * unit[i])
        if paid + price <= budget:
            paid += price
            bought.append(i)
    return sorted(bought), paid


@pytest.mark.parametrize("seed", range(6))
def test_purchase_matches_a_plain_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    power = np.round(rng.pareto(0.9, n) + 1, 3)
    power[rng.random(n) < 0.1] = 0.0  # no voting power: never bought
    unit = 1.0 + np.maximum(0.0, rng.normal(0, 0.6, n))  # a third at exactly 1: ties
    unit[rng.random(n) < 0.2] = 1.25
    candidate = rng.random(n) < 0.8
    total = float((power * unit)[candidate].sum())
    for budget in [0.0, 0.3, *(total * rng.random(8)), total, 2 * total]:
        ids, paid = purchase(power, unit, candidate, float(budget))
        expected, expected_paid = loop_purchase(power, unit, candidate, float(budget))
        assert ids.tolist() == expected
        assert paid == expected_paid
        assert paid <= budget


# --- sybils ------------------------------------------------------------------------------------


def test_sybil_links_have_the_mean_degree_and_no_duplicates() -> None:
    holders, sybils, degree = 1000, 2000, 10.0
    s, h = sybil_links(holders, sybils, degree, np.random.default_rng(3))
    # each pair is a link with probability 0.01: Binomial(2e6, 0.01), sd 141
    assert abs(len(s) - holders * sybils * 0.01) < 5 * 141
    rank = s * holders + h
    assert np.all(np.diff(rank) > 0)  # sorted by sybil, then holder; no pair twice
    assert s.min() >= 0 and s.max() < sybils and h.min() >= 0 and h.max() < holders
    # every sybil's degree is Binomial(1000, 0.01): a variance near the mean
    per = np.bincount(s, minlength=sybils)
    assert abs(per.mean() - 10) < 0.3 and abs(per.var() - 9.9) < 1.5
    again = sybil_links(holders, sybils, degree, np.random.default_rng(3))
    assert np.array_equal(again[0], s) and np.array_equal(again[1], h)


def test_sybil_links_at_the_extremes() -> None:
    s, h = sybil_links(3, 2, 5.0, np.random.default_rng(0))  # p = 1: every pair
    assert s.tolist() == [0, 0, 0, 1, 1, 1] and h.tolist() == [0, 1, 2, 0, 1, 2]
    s, _ = sybil_links(3, 2, 0.0, np.random.default_rng(0))
    assert len(s) == 0
    s, _ = sybil_links(3, 0, 2.0, np.random.default_rng(0))
    assert len(s) == 0


def test_attached_network_is_the_block_matrix() -> None:
    rng = np.random.default_rng(5)
    n, sybils = 60, 7
    base = erdos_renyi(n, 0.1, rng=rng)
    s, h = sybil_links(n, sybils, 6.0, rng)
    out = attach_sybils(base, sybils, s, h)
    dense = np.zeros((n + sybils, n + sybils))
    dense[:n, :n] = base.toarray()
    dense[h, n + s] = dense[n + s, h] = 1
    assert np.array_equal(out.toarray(), dense)
    assert out.has_sorted_indices
    for row in range(n + sybils):  # canonical: every row strictly increasing
        cols = out.indices[out.indptr[row] : out.indptr[row + 1]]
        assert np.all(np.diff(cols) > 0)


def test_sybils_and_a_bribe_move_a_voter_and_do_not_move_themselves() -> None:
    # path 0 - 1 - 2; holders 0 and 1 vote no, holder 2 yes; two sybils (ids 3, 4) voting yes
    # link to holder 0, which sees 2 of 3 voting neighbours against it, 2/3 > max(0.6, 1/2), and
    # flips to yes. Holder 1 never flips (threshold 1). Holder 2's one neighbour votes no: it
    # flips to no, unless it is bought, as a bought vote never changes.
    holders = graph(3, [(0, 1), (1, 2)])
    net = attach_sybils(holders, 2, np.array([0, 1]), np.array([0, 0]))
    people = agents([OPT, OPT, OPT, R, R], threshold=[0.6, 1.0, 0.6, 0.6, 0.6])
    sybils = np.arange(5) >= 3
    bribed = np.array([False, False, True, False, False])
    votes = np.array([False, False, True, True, True])
    rounds = partial(
        influence_among_voters,
        conformity_threshold=0.6,
        max_rounds=5,
        rules=RuleSet.V0_5,
        schedule=Schedule.SYNCHRONOUS,
    )
    everyone = np.ones(5, dtype=bool)
    free = rounds(net, committed(people, sybils), votes, everyone)
    assert free.final_votes.tolist() == [True, False, False, True, True]
    assert free.flip_count.tolist() == [1, 0, 1, 0, 0]
    held = rounds(net, committed(people, sybils | bribed), votes, everyone)
    assert held.final_votes.tolist() == [True, False, True, True, True]
    assert held.flip_count.tolist() == [1, 0, 0, 0, 0]


def test_a_committed_follower_ignores_the_whale_signal() -> None:
    # agent 1 (conformity 0.9) follows whale 0, which votes yes; committed, it keeps its no
    net = graph(2, [(0, 1)])
    people = agents([W, R], conformity=[0.1, 0.9], threshold=1.0)
    votes = np.array([True, False])
    rounds = partial(
        influence_among_voters, conformity_threshold=0.6, max_rounds=5, rules=RuleSet.V0_5
    )
    assert rounds(net, people, votes, np.ones(2, dtype=bool)).final_votes.tolist() == [True, True]
    mask = np.array([False, True])
    held = rounds(net, committed(people, mask), votes, np.ones(2, dtype=bool))
    assert held.final_votes.tolist() == [True, False]


# --- a hand-worked attack ----------------------------------------------------------------------

# four holders, stakes 40, 30, 20, 10 (total 100), no network: the vote is the round-0 vote
STAKES = [40.0, 30.0, 20.0, 10.0]
UTILITY = np.array([0.5, -0.25, -1.0, 0.25])
FLAT = partial(
    influence_among_voters,
    conformity_threshold=0.6,
    max_rounds=3,
    rules=RuleSet.V0_5,
    schedule=Schedule.SYNCHRONOUS,
)


def hand_attack(participated: list[bool], **kw: object) -> AttackedVote:
    params = SimParams.model_validate({"agents": 4, "mean_degree": 1} | kw)
    return run_attack(
        params,
        7,
        adjacency=graph(4, []),
        agents=agents([OPT, OPT, OPT, R], stake=STAKES, threshold=0.6),
        votes=UTILITY > 0,
        participated=np.array(participated),
        utility=UTILITY,
        rounds=FLAT,
        rng=np.random.default_rng(0),
    )


def holders_tally(out: AttackedVote, quorum: float) -> Tally:
    """The final tally of the hand-worked holders, with the attacker's own votes."""
    votes = out.influence.final_votes
    return out.attack.with_attacker(tally_votes(np.array(STAKES), votes, out.participated, quorum))


@pytest.mark.parametrize(
    ("budget", "bribed", "spent", "passed"),
    [
        # yes 40 + 10 against no 30 + 20: a tie fails; target auto is pass. Holder 1 costs
        # 30 (1 + 0.25) = 37.5, holder 2 costs 20 (1 + 1) = 40, in that order
        (0.0, [], 0.0, False),
        (0.37, [], 0.0, False),  # neither fits in 37
        (0.375, [1], 37.5, True),  # exactly the price; yes 80, no 20
        (0.77, [1], 37.5, True),  # 37.5 + 40 > 77
        (0.78, [1, 2], 77.5, True),
    ],
)
def test_who_is_bought_with_a_budget(
    budget: float, bribed: list[int], spent: float, passed: bool
) -> None:
    out = hand_attack([True] * 4, attack_target="auto", attack_budget=budget)
    a = out.attack
    assert a.target_yes and not a.passed_without
    assert np.flatnonzero(a.bribed).tolist() == bribed
    assert a.spent == spent and a.budget == pytest.approx(100 * budget)
    assert out.initial_votes.tolist() == [True, *(i in bribed for i in (1, 2)), True]
    final = holders_tally(out, quorum=0.0)
    assert final.passed is passed and a.succeeded(final.passed) is passed


@pytest.mark.parametrize(
    ("budget", "bribed", "passed"),
    [
        # holder 3 abstains: yes 40, no 50, cast 90 < 0.95 x 100: fails twice over. Abstainer 3
        # favours a pass and costs 10 (1 per unit); then holder 1 (37.5), then holder 2 (40)
        (0.11, [3], False),  # yes 50, no 50, cast 100: quorum met, a tie fails
        (0.47, [3], False),  # 10 + 37.5 > 47, 10 + 40 > 47
        (0.48, [1, 3], True),  # yes 80, no 20
    ],
)
def test_bought_abstainers_count_toward_the_quorum(
    budget: float, bribed: list[int], passed: bool
) -> None:
    out = hand_attack(
        [True, True, True, False], attack_target="pass", attack_budget=budget, quorum=0.95
    )
    a = out.attack
    assert not a.passed_without and not a.quorum_met_without
    assert np.flatnonzero(a.bribed).tolist() == bribed and a.bribed_abstainers == 1
    assert out.participated.tolist() == [True, True, True, True]
    t = holders_tally(out, 0.95)
    assert t.quorum_met and t.passed is passed


@pytest.mark.parametrize(
    ("share", "quorum", "passed"),
    [
        # holder 3 abstains: yes 40, no 50. A loan of L adds L to yes, to the cast and to the
        # total: yes 40 + L > 50 needs L > 10; the quorum needs 90 + L >= q (100 + L)
        (0.1, 0.0, False),  # 50 against 50
        (0.2, 0.0, True),
        (0.2, 0.95, False),  # 110 < 0.95 x 120 = 114
        (0.2, 0.9, True),  # 110 >= 108
    ],
)
def test_borrowed_power_counts_for_the_target_and_in_the_total(
    share: float, quorum: float, passed: bool
) -> None:
    out = hand_attack(
        [True, True, True, False],
        attack_target="pass",
        attack_borrowed_share=share,
        quorum=quorum,
    )
    a = out.attack
    assert a.borrowed_power == pytest.approx(100 * share, abs=SYBIL_STAKE)
    t = holders_tally(out, quorum)
    assert t.yes == 40 + a.borrowed_power and t.total == 100 + a.borrowed_power
    assert t.passed is passed and a.attacker_voters == 1


def test_a_target_already_reached_is_no_success() -> None:
    out = hand_attack([True] * 4, attack_target="fail", attack_budget=0.5)
    a = out.attack
    assert not a.target_yes and not a.passed_without
    assert not a.succeeded(False)  # failing without the attack: nothing to flip


# --- whole runs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"attack_budget": 0.05},
        {"attack_sybils": 40},
        {"attack_borrowed_share": 0.2},
        {"attack_budget": 0.02, "attack_sybils": 10, "quorum": 0.4},
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_attack_leaves_the_draws_and_knows_the_run_without_it(
    kw: dict[str, object], seed: int
) -> None:
    on = simulate(attack(**kw), seed)
    off_params = SimParams.model_validate(
        {"agents": 300} | {k: v for k, v in kw.items() if not k.startswith("attack")}
    )
    off = simulate(off_params, seed)
    a = on.attack
    assert a is not None and off.attack is None
    # the population, proposal, utilities and participation draws are the run's own
    for f in dataclasses.fields(off.agents):
        assert np.array_equal(getattr(on.agents, f.name), getattr(off.agents, f.name))
    assert on.proposal == off.proposal and np.array_equal(on.utility, off.utility)
    assert np.array_equal(on.participated, off.participated | a.bribed)
    # the outcome without the attack is that of the same run without it
    before = tally(off)
    assert a.passed_without == before.passed and a.quorum_met_without == before.quorum_met
    assert a.target_yes != before.passed  # auto: the opposite
    # bought holders vote for the target from round 0 and never flip
    assert np.all(on.initial_votes[a.bribed] == a.target_yes)
    assert np.all(on.influence.final_votes[a.bribed] == a.target_yes)
    assert not np.any(on.influence.flip_count[a.bribed])
    assert a.spent <= a.budget
    assert float(on.agents.stake[a.bribed].sum()) <= a.spent  # a price is at least the power


def test_an_attack_without_resources_changes_nothing() -> None:
    for seed in range(4):
        on, off = simulate(attack(), seed), simulate(SimParams(agents=300), seed)
        assert on.attack is not None and not on.attack.bribed.any()
        assert np.array_equal(on.influence.final_votes, off.influence.final_votes)
        assert np.array_equal(on.influence.flips_per_round, off.influence.flips_per_round)
        assert tally(on) == tally(off)
        assert not on.attack.succeeded(tally(on).passed)


def test_runs_are_reproducible_and_differ_by_seed() -> None:
    params = attack(attack_budget=0.03, attack_sybils=30, attack_borrowed_share=0.05)
    a, b, c = simulate(params, 11), simulate(params, 11), simulate(params, 12)
    assert np.array_equal(a.degree, b.degree) and np.array_equal(a.attack.bribed, b.attack.bribed)
    assert np.array_equal(a.influence.final_votes, b.influence.final_votes)
    assert a.attack.sybil_edges == b.attack.sybil_edges
    assert not np.array_equal(a.degree, c.degree)
    # the sybils' links come from the scenario's stream: 30 sybils' links add to the degrees
    extra = a.degree - simulate(attack(attack_budget=0.03), 11).degree
    assert int(extra.sum()) == a.attack.sybil_edges > 0


def reference_rounds(
    adjacency: sparse.csr_array,
    people: Agents,
    votes: np.ndarray,
    participated: np.ndarray,
    *,
    rng: np.random.Generator,
    trace: bool = False,
) -> Influence:
    """The v0.5 influence rounds of ``simulator.reference``, agent by agent."""
    out = reference_influence(
        to_networkx(adjacency),
        people,
        votes.tolist(),
        conformity_threshold=0.6,
        max_rounds=1000,
        rules=RuleSet.V0_5,
        schedule=Schedule.RANDOM_FRACTION,
        update_fraction=0.5,
        rng=rng,
        participated=participated.tolist(),
    )
    return Influence(
        final_votes=np.array(out.final_votes),
        flip_count=np.array(out.flip_count, dtype=np.int32),
        flip_round=np.array(out.flip_round, dtype=np.int32),
        flips_per_round=np.array(out.flips_per_round, dtype=np.int64),
        yes_to_no=out.yes_to_no,
        no_to_yes=out.no_to_yes,
        whale_follows=np.array(out.whale_follows, dtype=np.int32),
        ending=out.ending,
        period=out.period,
    )


@pytest.mark.parametrize("seed", [4, 5])
def test_attacked_rounds_agree_with_the_reference(seed: int) -> None:
    params = attack(agents=200, attack_budget=0.04, attack_sybils=60, attack_borrowed_share=0.1)
    s = run_seed(9, seed)

    rng = make_rng(s)  # the engine's draw order up to the influence rounds (model.md 10.1)
    population = resolve_population(params)
    proposal = draw_vetted_proposal(rng, population.favourability)
    people = draw_population(params, population, rng)
    adjacency = build_network(params, rng)
    participated = draw_participation(people, rng)
    utility = population_utilities(people, proposal)
    ref = run_attack(
        params,
        s,
        adjacency=adjacency,
        agents=people,
        votes=utility > 0,
        participated=participated,
        utility=utility,
        rounds=reference_rounds,
        rng=rng,
    )
    engine = simulate(params, s)
    assert np.array_equal(ref.attack.bribed, engine.attack.bribed)
    assert np.array_equal(ref.influence.final_votes, engine.influence.final_votes)
    assert np.array_equal(ref.influence.flip_count, engine.influence.flip_count)
    assert ref.influence.flips_per_round.tolist() == engine.influence.flips_per_round.tolist()
    assert ref.attack.passed_without == engine.attack.passed_without
    assert ref.attack.sybil_edges == engine.attack.sybil_edges > 0


def test_success_rate_does_not_fall_as_the_budget_grows() -> None:
    budgets = [0.0, 0.01, 0.05, 0.2, 10.0]
    seeds = [run_seed(77, i) for i in range(40)]
    wins = []
    for budget in budgets:
        count = 0
        for s in seeds:
            r = simulate(attack(agents=200, attack_budget=budget), s)
            assert r.attack is not None
            count += r.attack.succeeded(tally(r).passed)
            if budget == 10.0:  # every price together is below this budget: all are bought
                _, price = bribe_prices(r.agents.stake, r.utility, r.attack.target_yes)
                assert price.sum() < r.attack.budget
        wins.append(count)
    assert wins[0] == 0  # no budget, no flip
    assert wins[-1] == len(seeds)  # every holder not voting for the target bought: all flip
    # same seeds at every budget: the count may dip by a run or two (a larger budget buys a
    # different set, and the cascade's draws then differ), never by more
    assert all(b >= a - 2 for a, b in itertools.pairwise(wins)), wins
    assert wins[1] < wins[3], wins


# --- with delegation (docs/model.md 11.3, "Composition with delegation") -------------------------


@pytest.mark.parametrize(
    ("budget", "bribed", "passed"),
    [
        # holder 2 (20, utility -1) delegated to holder 1 (30, -0.25): powers 40, 50, 0, 10 and
        # holder 2 does not vote. yes 40 + 10 against no 50: a tie fails; target auto is pass.
        # Holder 1 costs 50 (1 + 0.25) = 62.5 with what it carries; holder 2 has no power to sell
        (0.6, [], False),
        (0.625, [1], True),  # yes 100, no 0
        (5.0, [1], True),  # any budget: holder 2 is never a candidate
    ],
)
def test_buying_a_delegate_buys_the_power_it_carries(
    budget: float, bribed: list[int], passed: bool
) -> None:
    power = np.array([40.0, 50.0, 0.0, 10.0])
    params = SimParams.model_validate(
        {"agents": 4, "mean_degree": 1, "attack_target": "auto", "attack_budget": budget}
    )
    out = run_attack(
        params,
        7,
        adjacency=graph(4, []),
        agents=agents([OPT, OPT, OPT, R], stake=STAKES, threshold=0.6),
        votes=UTILITY > 0,
        participated=np.array([True, True, False, True]),
        utility=UTILITY,
        rounds=FLAT,
        rng=np.random.default_rng(0),
        power=power,
    )
    a = out.attack
    assert a.holders_stake == 100.0 and a.target_yes and not a.passed_without
    assert np.flatnonzero(a.bribed).tolist() == bribed
    assert a.spent == (62.5 if bribed else 0.0)
    assert not out.participated[2]  # the delegator stays behind its (bought) delegate
    t = a.with_attacker(tally_votes(power, out.influence.final_votes, out.participated, 0.0))
    assert t.passed is passed and t.total == 100.0


def delegated(**kw: object) -> SimParams:
    return SimParams.model_validate({"agents": 400, "delegation_rate": 0.6} | kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"attack_budget": 0.05},
        {"attack_budget": 0.02, "attack_sybils": 20, "attack_borrowed_share": 0.05},
        {"attack_budget": 0.3, "quorum": 0.5, "delegation_mode": "similarity"},
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_attack_on_a_delegated_vote(kw: dict[str, object], seed: int) -> None:
    on = simulate(delegated(attack_target="auto", **kw), seed)
    off = simulate(delegated(**{k: v for k, v in kw.items() if not k.startswith("attack")}), seed)
    a, d, d_off = on.attack, on.delegation, off.delegation
    assert a is not None and d is not None and d_off is not None
    # delegation is drawn as in the same run without the attack: who delegates to whom, power
    for name in ("delegate", "is_delegate", "overrode", "delegated_power", "power"):
        assert np.array_equal(getattr(d, name), getattr(d_off, name)), name
    # the budget is a share of the holders' voting power, which delegation only moves around
    assert a.holders_stake == pytest.approx(float(on.agents.stake.sum()), rel=1e-12)
    assert a.budget == pytest.approx(float(kw["attack_budget"]) * a.holders_stake, rel=1e-12)
    # only holders with voting power are bought: never a delegator whose power its delegate votes
    assert np.all(d.power[a.bribed] > 0) and a.bribed.any()
    assert float(d.power[a.bribed].sum()) <= a.spent <= a.budget
    # who votes: the delegated vote's voters and the bought ones; the delegation says the same
    assert np.array_equal(on.participated, off.participated | a.bribed)
    assert np.array_equal(d.participated, on.participated)
    # the outcome without the attack is the delegated run's, tallied with voting power
    assert a.passed_without == tally(off).passed and a.target_yes != tally(off).passed
    t = tally(on)
    yes = on.influence.final_votes & on.participated
    own = a.attacker_power if a.target_yes else 0.0
    assert t.yes == pytest.approx(float(d.power[yes].sum()) + own, rel=1e-12)


def test_an_attack_without_resources_leaves_a_delegated_vote() -> None:
    for seed in range(4):
        on, off = simulate(delegated(attack_target="auto"), seed), simulate(delegated(), seed)
        assert on.attack is not None and not on.attack.bribed.any()
        assert np.array_equal(on.influence.final_votes, off.influence.final_votes)
        assert np.array_equal(on.participated, off.participated)
        assert tally(on) == tally(off)


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"attack_budget": 0.1}, r"attack_budget: needs attack_target auto, pass or fail"),
        ({"attack_sybils": 3}, r"attack_sybils: needs attack_target"),
        ({"attack_borrowed_share": 0.1}, r"attack_borrowed_share: needs attack_target"),
        ({"attack_target": "pass", "rules": "v0.4"}, r"attack_target: only used with rules v0\.5"),
        ({"attack_target": "auto", "attack_budget": -0.1}, r"attack_budget"),
        ({"attack_target": "auto", "attack_budget": 10.5}, r"attack_budget"),
        ({"attack_target": "auto", "attack_borrowed_share": 4.5}, r"attack_borrowed_share"),
        ({"attack_target": "auto", "attack_sybils": -1}, r"attack_sybils"),
        ({"attack_target": "maybe"}, r"attack_target"),
    ],
)
def test_bad_attack_parameters_are_refused(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimParams.model_validate(kw)


def test_attack_parameters_serialize_only_when_on() -> None:
    assert not any(k.startswith("attack") for k in SimParams().model_dump())
    dumped = attack(attack_budget=0.1).model_dump(mode="json")
    assert dumped["attack_target"] == "auto" and dumped["attack_budget"] == 0.1
    assert "attack_sybils" not in dumped  # at its default


def test_the_plain_reference_refuses_an_attack() -> None:
    with pytest.raises(ParameterError, match="attack_target: the reference restates runs"):
        reference_simulate(attack(agents=20, attack_budget=0.1), 1)


def test_the_memory_estimate_counts_the_sybils() -> None:
    # 1000 sybils of 10 links each: 10,000 more edges at 64 bytes and 1000 more nodes at 128
    base = run_memory_bytes(attack(agents=1000))
    assert run_memory_bytes(attack(agents=1000, attack_sybils=1000)) - base == 640_000 + 128_000
