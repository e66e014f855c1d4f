"""Delegation (docs/model.md 11.2): the rules on hand-built cases, against plain-loop references,
and what switching it on does and does not change in a run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from kit.engine import agents as make_agents
from pydantic import ValidationError

from simulator.agents import Agents
from simulator.cli import main as govsim
from simulator.delegation import (
    DELEGATION_BATCHES,
    DelegationSummary,
    delegate,
    preferential_choice,
    similarity_choice,
)
from simulator.model import simulate
from simulator.outcome import tally
from simulator.params import ARCHETYPES, Archetype, SimParams, delegate_count
from simulator.population import PREFERENCES
from simulator.seeding import run_seed

OPT, W, R, INST = Archetype.OPTIMIZER, Archetype.WHALE, Archetype.RETAIL, Archetype.INSTITUTIONAL
STAKES = [100.0, 50.0, 1.0, 2.0, 3.0, 4.0]  # total 160; delegates: agents 0 and 1


def population(kinds: list[Archetype], stake: list[float], rho: list[float]) -> Agents:
    """Hand-made agents with base turnout 0.1 each."""
    a = make_agents(kinds, stake=stake, risk_tolerance=rho)
    return dataclasses.replace(a, turnout=np.full(len(kinds), 0.1))


HAND = population([W, OPT, OPT, W, R, INST], STAKES, [0.5, 0.5, 0.5, 0.9, 0.5, 0.5])
VOTES = np.array([True, False, False, False, True, False])


def hand_params(**kw: object) -> SimParams:
    base = {"agents": 6, "delegation_rate": 1.0, "delegate_share": 0.34}
    return SimParams.model_validate(base | kw)


# --- who delegates to whom, by hand -----------------------------------------------------------


def test_similarity_picks_the_delegate_with_the_closest_utility_coefficients() -> None:
    # Risk coefficients r = w_risk + (rho - 0.5): delegates 0 (whale) -0.3, 1 (optimizer) -0.6.
    # C[optimizer, whale] over yield, complexity, treasury, decentralisation and the hurdle:
    # 0 + 0.04 + 0.09 + 0.09 + 0.01 = 0.23.
    # agent 2 (optimizer, r -0.6): to 1: 0; to 0: 0.23 + 0.09 = 0.32 -> 1
    # agent 3 (whale, rho 0.9, r 0.1): to 0: 0.16; to 1: 0.23 + 0.49 = 0.72 -> 0
    # agent 4 (retail, r -0.3): to 0: C = 0.04 + 0.04 + 0.64 + 0.36 + 0 = 1.08, + 0 -> 1.08;
    #   to 1: C = 0.04 + 0 + 0.25 + 0.09 + 0.01 = 0.39, + 0.09 -> 0.48 -> 1
    # agent 5 (institutional, r -1.0): to 0: 0.58 + 0.49 = 1.07; to 1: 0.37 + 0.16 = 0.53 -> 1
    picked = similarity_choice(HAND, np.array([0, 1]), np.array([2, 3, 4, 5]))
    assert picked.tolist() == [1, 0, 1, 1]


def test_similarity_breaks_ties_by_the_lower_id() -> None:
    # institutional risk coefficients are exact: -1 + (rho - 0.5); the delegator (rho 0.5) is
    # 0.25 from both delegates, the one at rho 0.75 (id 1) and the one at 0.25 (id 2)
    a = population([INST, INST, INST, INST], [9.0, 8.0, 7.0, 1.0], [0.5, 0.75, 0.25, 0.5])
    assert similarity_choice(a, np.array([1, 2]), np.array([3])).tolist() == [0]  # id 1
    a = population([INST, INST, INST, INST], [9.0, 8.0, 7.0, 1.0], [0.5, 0.25, 0.75, 0.5])
    assert similarity_choice(a, np.array([1, 2]), np.array([3])).tolist() == [0]  # id 1 again
    twins = population([W, W, W], [9.0, 8.0, 1.0], [0.4, 0.4, 0.9])
    assert similarity_choice(twins, np.array([0, 1]), np.array([2])).tolist() == [0]


@pytest.mark.parametrize(
    "override,expected",
    [
        # delegate 0 gets agent 3 (stake 2); delegate 1 agents 2, 4, 5 (1 + 3 + 4).
        # Own turnout (base 0.1, draw): agent 2 votes (draw 0), agent 3 does not
        # (p = 1 - 0.9 exp(-(2/160)/0.03) = 0.41 < 0.99), agents 4 and 5 do (draw 0).
        (0.0, {"power": [102, 58, 0, 0, 0, 0], "voted": [1, 1, 0, 0, 0, 0], "overrode": []}),
        # agent 4 votes yes against its delegate's no and overrides; 2 and 5 agree; 3 is away
        (1.0, {"power": [102, 55, 0, 0, 3, 0], "voted": [1, 1, 0, 0, 1, 0], "overrode": [4]}),
    ],
)
def test_delegators_vote_through_their_delegate_unless_they_override(
    override: float, expected: dict[str, list[int]]
) -> None:
    draws = np.array([0.5, 0.5, 0.0, 0.99, 0.0, 0.0])
    params = hand_params(delegation_mode="similarity", delegation_override=override)
    d = delegate(params, 1, HAND, draws, VOTES)
    assert d.delegate.tolist() == [0, 1, 1, 0, 1, 1]
    assert d.is_delegate.tolist() == [True, True, False, False, False, False]
    assert d.power.tolist() == expected["power"]
    assert d.participated.astype(int).tolist() == expected["voted"]
    assert np.flatnonzero(d.overrode).tolist() == expected["overrode"]
    assert d.delegated_power.tolist() == [2, expected["power"][1] - 50, 0, 0, 0, 0]
    assert d.participated_alone.tolist() == [True, True, True, False, True, True]
    assert d.power.sum() == sum(STAKES)


def test_delegators_of_an_absent_delegate_override_when_they_vote() -> None:
    # delegate 1 draws 0.999999 > p = 1 - 0.9 exp(-(58/160)/0.03) = 1 - 5.1e-6: it abstains,
    # and its voting delegators 2, 4 and 5 (draw 0) vote themselves; agent 3 stays away
    draws = np.array([0.5, 0.999999, 0.0, 0.99, 0.0, 0.0])
    params = hand_params(delegation_mode="similarity", delegation_override=1.0)
    d = delegate(params, 1, HAND, draws, VOTES)
    assert np.flatnonzero(d.overrode).tolist() == [2, 4, 5]
    assert d.power.tolist() == [102, 50, 1, 0, 3, 4]
    assert d.participated.tolist() == [True, False, True, False, True, True]


def test_a_single_delegate_receives_everything() -> None:
    params = hand_params(delegate_share=0.17)  # round(1.02) = 1 delegate: the largest holder
    d = delegate(params, 3, HAND, np.full(6, 0.5), VOTES)
    assert d.delegate.tolist() == [0] * 6
    assert d.power.tolist() == [160, 0, 0, 0, 0, 0]
    assert d.participated.tolist() == [True] + [False] * 5  # p = 1 - 0.9 exp(-1/0.03)


def test_when_every_agent_is_a_delegate_nobody_delegates() -> None:
    params = hand_params(delegate_share=1.0)
    d = delegate(params, 2, HAND, np.zeros(6), VOTES)
    assert d.delegate.tolist() == list(range(6)) and d.power.tolist() == STAKES
    assert d.participated.all()  # every draw 0 is below its turnout


@pytest.mark.parametrize("share,n,expected", [(0.01, 10_000, 100), (0.34, 6, 2), (0.001, 50, 1)])
def test_delegate_count_rounds_half_up_with_at_least_one(
    share: float, n: int, expected: int
) -> None:
    assert delegate_count(share, n) == expected


def test_delegates_are_the_largest_holders_lower_id_first() -> None:
    a = population([OPT] * 5, [5.0, 9.0, 9.0, 1.0, 2.0], [0.5] * 5)
    params = SimParams(agents=5, delegation_rate=1.0, delegate_share=0.3)  # round(1.5) = 2
    d = delegate(params, 1, a, np.zeros(5), np.ones(5, dtype=bool))
    assert np.flatnonzero(d.is_delegate).tolist() == [1, 2]


# --- preferential attachment: statistics and a plain-loop reference ---------------------------


@pytest.mark.parametrize("attachment,share", [(0.0, 0.5), (1.0, 0.75), (2.0, 0.9)])
def test_preferential_picks_in_proportion_to_power_to_the_exponent(
    attachment: float, share: float
) -> None:
    # powers 1 and 3 with negligible delegated stake: weights 1 : 3^a, so the second delegate
    # gets 3^a / (1 + 3^a) of the picks; 40,000 picks: sd 0.0022 at most, bound 0.01
    picked = preferential_choice(
        np.array([1.0, 3.0]), np.full(40_000, 1e-12), attachment, np.random.default_rng(5)
    )
    assert abs(picked.mean() - share) < 0.01


def reference_preferential(
    pool_power: list[float], stake: list[float], a: float, rng: np.random.Generator, batches: int
) -> list[int]:
    """docs/model.md 11.2 in plain Python: batches of a random order, a linear scan per pick."""
    m = len(stake)
    order = rng.permutation(m).tolist()
    power = list(pool_power)
    picked = [-1] * m
    for k in range(batches):
        lo, hi = k * m // batches, (k + 1) * m // batches
        if hi == lo:
            continue
        running, total = [], 0.0
        for p in power:
            total += p**a
            running.append(total)
        uniforms = rng.random(hi - lo).tolist()
        chosen = []
        for u in uniforms:
            j = 0
            while j < len(running) - 1 and running[j] <= u * running[-1]:
                j += 1
            chosen.append(j)
        for t, j in zip(range(lo, hi), chosen, strict=True):
            picked[order[t]] = j
            power[j] += stake[order[t]]
    return picked


@pytest.mark.parametrize("attachment", [0.0, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_preferential_choice_matches_the_plain_loop(attachment: float, seed: int) -> None:
    gen = np.random.default_rng(100 + seed)
    pool = gen.integers(1, 50, size=7).astype(float)  # integers: every sum is exact
    stake = gen.integers(1, 20, size=300).astype(float).tolist()
    batches = [DELEGATION_BATCHES, 5, 1000][seed]  # 1000 > 300: empty batches are skipped
    fast = preferential_choice(
        pool, np.array(stake), attachment, np.random.default_rng(seed), batches
    )
    slow = reference_preferential(
        pool.tolist(), stake, attachment, np.random.default_rng(seed), batches
    )
    assert fast.tolist() == slow


def test_preferential_attachment_makes_the_rich_richer() -> None:
    # Two delegates of power 1 receive 640 delegators of stake 1 in 64 batches of 10. Uniform
    # picks (exponent 0) end near half each: mean |share - 1/2| = sd sqrt(2/pi) = 0.016. At
    # exponent 1 this is a Polya urn whose first batch of 10 fixes the start (1 + k, 11 - k),
    # k ~ Binomial(10, 1/2): the final share is about Beta(1 + k, 11 - k), mean |x - 1/2| about
    # 0.13. At exponent 3 the leader takes nearly everything (|x - 1/2| near 1/2).
    spread = {}
    for a in (0.0, 1.0, 3.0):
        finals = []
        for seed in range(40):
            pool = np.array([1.0, 1.0])
            picked = preferential_choice(pool, np.ones(640), a, np.random.default_rng(seed))
            finals.append(np.bincount(picked, minlength=2)[0] / 640)
        spread[a] = float(np.mean(np.abs(np.array(finals) - 0.5)))
    assert spread[0.0] < 0.03
    assert spread[1.0] > 0.08
    assert spread[3.0] > 0.4


def reference_similarity(agents: Agents, pool: list[int], delegators: list[int]) -> list[int]:
    """Brute force over every delegate: smallest squared distance, then the lower id."""
    kinds = [ARCHETYPES[c] for c in agents.archetype.tolist()]
    rho = agents.risk_tolerance.tolist()

    def gap(a: Archetype, b: Archetype) -> float:
        pa, pb = PREFERENCES[a], PREFERENCES[b]
        total = 0.0
        for k in range(1, 5):  # every dimension but risk (the first)
            total += (pa.weights[k] - pb.weights[k]) ** 2
        return total + (pa.hurdle - pb.hurdle) ** 2

    def r(i: int) -> float:
        return PREFERENCES[kinds[i]].weights[0] + (rho[i] - 0.5)

    out = []
    for i in delegators:
        best, best_id, best_pos = math.inf, -1, -1
        for pos, j in enumerate(pool):
            d = gap(kinds[i], kinds[j]) + (r(i) - r(j)) ** 2
            if d < best or (d == best and j < best_id):
                best, best_id, best_pos = d, j, pos
        out.append(best_pos)
    return out


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_similarity_choice_matches_brute_force(grid: bool, seed: int) -> None:
    gen = np.random.default_rng(seed)
    n = 400
    kinds = [ARCHETYPES[k] for k in gen.integers(0, len(ARCHETYPES), size=n)]
    rho = gen.random(n)
    if grid:  # many exact ties
        rho = np.round(rho * 4) / 4
    a = population(kinds, gen.integers(1, 100, size=n).astype(float).tolist(), rho.tolist())
    pool = np.sort(gen.choice(n, size=25, replace=False))
    delegators = np.setdiff1d(np.arange(n), pool)
    fast = similarity_choice(a, pool, delegators)
    assert fast.tolist() == reference_similarity(a, pool.tolist(), delegators.tolist())


# --- in a run ---------------------------------------------------------------------------------

RUN = SimParams(agents=3000, delegation_rate=0.6, delegation_override=0.5, delegate_share=0.02)


@pytest.mark.parametrize("mode", ["preferential", "similarity"])
def test_run_invariants(mode: str) -> None:
    params = RUN.model_copy(update={"delegation_mode": mode})
    for i in range(4):
        r = simulate(params, run_seed(3, i))
        d = r.delegation
        assert d is not None
        stake, n = r.agents.stake, len(r.agents)
        delegating = d.delegating
        assert d.power.sum() == stake.sum()  # exact: stakes are multiples of a quantum
        assert (d.power[delegating & ~d.overrode] == 0).all()
        assert not r.participated[delegating & ~d.overrode].any()
        assert r.participated[d.overrode].all() and not d.overrode[~delegating].any()
        assert d.is_delegate[d.delegate[delegating]].all()  # one hop, to a delegate
        assert not delegating[d.is_delegate].any()
        carried = delegating & ~d.overrode
        expected = np.bincount(d.delegate[carried], weights=stake[carried], minlength=n)
        assert np.array_equal(d.delegated_power, expected)
        # the tally weighs votes by voting power
        t = tally(r)
        final = r.influence.final_votes
        assert t.yes == d.power[r.participated & final].sum()
        assert t.cast == d.power[r.participated].sum()
        assert 0.55 < delegating.mean() / (1 - d.is_delegate.mean()) < 0.65


def test_delegation_changes_who_votes_and_nothing_else() -> None:
    off = simulate(SimParams(agents=3000), 11)
    on = simulate(RUN, 11)
    for name in ("archetype", "stake", "risk_tolerance", "conformity", "threshold", "turnout"):
        assert np.array_equal(getattr(off.agents, name), getattr(on.agents, name))
    assert np.array_equal(off.degree, on.degree)
    assert np.array_equal(off.utility, on.utility)
    assert np.array_equal(off.initial_votes, on.initial_votes)
    assert on.delegation is not None
    assert np.array_equal(on.delegation.participated_alone, off.participated)
    assert not np.array_equal(on.participated, off.participated)


def test_rate_zero_is_the_engine_bit_for_bit() -> None:
    base = simulate(SimParams(agents=2000), 5)
    idle = simulate(
        SimParams(
            agents=2000, delegation_mode="similarity", delegate_share=0.2, delegation_override=1
        ),
        5,
    )
    assert idle.delegation is None
    assert np.array_equal(base.participated, idle.participated)
    assert np.array_equal(base.influence.final_votes, idle.influence.final_votes)
    assert np.array_equal(base.influence.flip_count, idle.influence.flip_count)
    assert base.voting_power is base.agents.stake and idle.voting_power is idle.agents.stake


def test_same_seed_same_delegation_other_seed_other() -> None:
    a, b, c = (simulate(RUN, s).delegation for s in (21, 21, 22))
    assert a is not None and b is not None and c is not None
    for name in ("delegate", "overrode", "power", "participated"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.delegate, c.delegate)


def test_summary_totals() -> None:
    r = simulate(RUN, 4)
    d = r.delegation
    assert d is not None
    s = DelegationSummary.of(d, r.agents.stake)
    assert s.delegates == 60 and s.delegators == int(d.delegating.sum())
    assert s.overrides == int(d.overrode.sum()) > 0
    assert s.votes_cast_without == int(d.participated_alone.sum())
    voted_delegates = d.is_delegate & d.participated
    assert s.delegated_power_cast == d.delegated_power[voted_delegates].sum()
    assert s.active_delegates == int(voted_delegates.sum())


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given,message",
    [
        ({"delegation_rate": 1.5}, "delegation_rate"),
        ({"delegation_override": -0.1}, "delegation_override"),
        ({"delegate_share": 0}, "delegate_share"),
        ({"delegation_attachment": 11}, "delegation_attachment"),
        ({"delegation_mode": "random"}, "delegation_mode"),
        (
            {"delegation_mode": "similarity", "delegation_attachment": 2},
            "delegation_attachment: 2.0 is only used with delegation_mode preferential",
        ),
        ({"rules": "v0.4", "delegation_rate": 0.5}, "delegation_rate: only used with rules v0.5"),
    ],
)
def test_bad_parameters_are_refused(given: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimParams.model_validate(given)


def test_parameters_serialize_only_when_set() -> None:
    assert not any(k.startswith("delegat") for k in SimParams().model_dump())
    dump = SimParams(delegation_rate=0.3, delegation_override=0.2).model_dump(mode="json")
    assert {k for k in dump if k.startswith("delegat")} == {
        "delegation_rate",
        "delegation_override",
    }
    assert SimParams.model_validate(dump) == SimParams(delegation_rate=0.3, delegation_override=0.2)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--delegation-rate", "2"], "govsim: error: --delegation-rate: 2 is outside [0, 1]"),
        (
            ["--delegation-rate", "0.2", "--delegation-mode", "nearest"],
            "govsim: error: --delegation-mode: 'nearest' is not one of preferential, similarity",
        ),
        (
            ["--rules", "v0.4", "--delegation-override", "0.5"],
            "govsim: error: --delegation-override: only used with --rules v0.5",
        ),
        (
            ["--delegation-mode", "similarity", "--delegation-attachment", "2"],
            "govsim: error: --delegation-attachment: 2.0 is only used with delegation_mode "
            "preferential (delegation_mode is similarity)",
        ),
    ],
)
def test_cli_refuses_bad_flags_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert govsim(args) == 2
    err = capsys.readouterr().err
    assert err.strip() == message


def test_cli_summary_states_the_delegation(capsys: pytest.CaptureFixture[str]) -> None:
    assert govsim(["--agents", "500", "--delegation-rate", "0.5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "delegation " in out and "delegates (" in out and "top-10 share" in out
    assert govsim(["--agents", "500", "--seed", "3"]) == 0
    assert "delegation" not in capsys.readouterr().out
