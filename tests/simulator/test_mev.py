"""MEV-aware voting: who extracts, what it is worth, the honest counterfactual and its welfare.

Rules on hand-built cases with results worked out by hand; the draws against independent
restatements of the documented draw order; the engine against the run with the scenario off.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from pydantic import ValidationError

from simulator.agents import Agents
from simulator.cli import main
from simulator.errors import ParameterError
from simulator.mev import (
    PARETO_TAIL,
    ExtractableValue,
    MevRun,
    choose_weighted,
    draw_extractable_value,
    extractor_count,
    summarise,
    value_law,
    welfare_difference,
    welfare_of_passing,
)
from simulator.model import Ending, Influence, RunResult, simulate
from simulator.outcome import tally
from simulator.params import MevDistribution, MevTargeting, SimParams
from simulator.proposal import Proposal
from simulator.reference import reference_simulate
from simulator.seeding import run_seed, scenario_rng

N = 400
BASE = {"agents": N, "mean_degree": 8}


def params(**kw: object) -> SimParams:
    return SimParams.model_validate(BASE | kw)


# -- draws --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "n", "k"),
    [(0.05, 1000, 50), (0.0125, 100, 1), (0.015, 100, 2), (0.025, 100, 3), (1.0, 7, 7),
     (0.0, 50, 0), (0.004, 100, 0)],
)  # fmt: skip
def test_extractor_count_rounds_half_up(share: float, n: int, k: int) -> None:
    # 1.25 -> 1, 1.5 -> 2, 2.5 -> 3 (halves up, not to even), 0.4 -> 0
    assert extractor_count(share, n) == k


def test_weighted_choice_takes_the_largest_keys_of_the_documented_draws() -> None:
    weights = np.array([1.0, 5.0, 2.0, 0.5, 3.0, 1.0, 4.0])
    chosen = choose_weighted(weights, 3, np.random.default_rng(9))
    u = np.random.default_rng(9).random(7)  # the same draws, restated: key = log(1 - u) / w
    keys = [math.log(1.0 - x) / w for x, w in zip(u.tolist(), weights.tolist(), strict=True)]
    expected = sorted(sorted(range(7), key=lambda i: -keys[i])[:3])
    assert chosen.tolist() == expected


def test_weighted_choice_edges() -> None:
    rng = np.random.default_rng(1)
    assert choose_weighted(np.ones(5), 0, rng).tolist() == []
    assert choose_weighted(np.ones(5), 5, rng).tolist() == [0, 1, 2, 3, 4]
    assert choose_weighted(np.ones(5), 9, rng).tolist() == [0, 1, 2, 3, 4]


def test_one_weighted_draw_follows_the_weights() -> None:
    # Efraimidis-Spirakis with k = 1: item i with probability w_i / sum(w) = 0.1, 0.2, 0.7
    weights = np.array([1.0, 2.0, 7.0])
    rng = np.random.default_rng(3)
    picks = np.array([choose_weighted(weights, 1, rng)[0] for _ in range(20_000)])
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert np.allclose(freq, [0.1, 0.2, 0.7], atol=0.012)  # about 4 standard errors


def test_value_laws_have_mean_one_and_their_documented_shapes() -> None:
    rng = np.random.default_rng(5)
    assert value_law(MevDistribution.CONSTANT, 4, rng).tolist() == [1.0] * 4
    logn = value_law(MevDistribution.LOGNORMAL, 400_000, rng)
    assert abs(logn.mean() - 1.0) < 0.02  # sd of the mean: sqrt(e - 1) / 632 = 0.002
    assert abs(np.median(logn) - math.exp(-0.5)) < 0.01
    par = value_law(MevDistribution.PARETO, 400_000, rng)
    floor = (PARETO_TAIL - 1) / PARETO_TAIL  # 1/3
    assert par.min() >= floor
    assert abs(np.median(par) - floor * 2 ** (1 / PARETO_TAIL)) < 0.01  # 0.529
    # infinite variance: check the mean of the values capped at 50 instead
    # E[min(X, c)] = 1 - x_m^alpha c^(1 - alpha) / (alpha - 1) for Pareto(x_m, alpha), mean 1
    trimmed = 1.0 - floor**PARETO_TAIL * 50.0 ** (1 - PARETO_TAIL) / (PARETO_TAIL - 1)
    assert abs(np.mean(np.minimum(par, 50.0)) - trimmed) < 0.01


def test_extractable_value_follows_the_draw_order() -> None:
    # 4 agents, utilities -1, 1, -1, 1: spread (population sd) 1. mev_share 0.5 -> 2 extractors:
    # the 2 largest keys log(1 - u) of 4 uniforms (uniform targeting: weight 1), that is the 2
    # smallest uniforms; then 2 uniforms for the sign
    # (all below mev_against_share 1: every extractor loses), then the constant law: value 0.75.
    p = SimParams(agents=4, mev_share=0.5, mev_value=0.75, mev_against_share=1.0,
                  mev_targeting=MevTargeting.UNIFORM,
                  mev_distribution=MevDistribution.CONSTANT)  # fmt: skip
    utility = np.array([-1.0, 1.0, -1.0, 1.0])
    ev = draw_extractable_value(p, np.ones(4), utility, seed=77)
    u = scenario_rng(77, "mev").random(4)
    top2 = sorted(np.argsort(u, kind="stable")[:2].tolist())
    assert ev.extractors.tolist() == top2
    assert ev.spread == 1.0 and ev.scale == 0.75
    assert ev.value.tolist() == [-0.75, -0.75]
    applied = ev.apply(utility)
    assert applied[top2].tolist() == [utility[i] - 0.75 for i in top2]
    assert utility.tolist() == [-1.0, 1.0, -1.0, 1.0]  # not changed in place


def test_stake_targeting_prefers_large_holders() -> None:
    stake = np.concatenate([np.full(10, 1000.0), np.ones(990)])  # 10 holders: 91% of the stake
    p = SimParams(agents=1000, mev_share=0.01)  # 10 extractors
    top = [
        int(np.count_nonzero(draw_extractable_value(p, stake, np.zeros(1000), s).extractors < 10))
        for s in range(200)
    ]
    # successive weighted draws without replacement: after j large holders (and i - j small ones)
    # the next is large with probability (10 - j) 1000 / ((10 - j) 1000 + 990 - (i - j))
    dist = {0: 1.0}
    for i in range(10):
        step: dict[int, float] = {}
        for j, prob in dist.items():
            large = (10 - j) * 1000.0
            p_large = large / (large + 990 - (i - j))
            step[j + 1] = step.get(j + 1, 0.0) + prob * p_large
            step[j] = step.get(j, 0.0) + prob * (1 - p_large)
        dist = step
    expected = sum(j * prob for j, prob in dist.items())  # 8.33
    assert abs(np.mean(top) - expected) < 0.25  # the standard error of the mean is about 0.06
    p_uniform = SimParams(agents=1000, mev_share=0.01, mev_targeting=MevTargeting.UNIFORM)
    uniform = [
        int(np.count_nonzero(draw_extractable_value(p_uniform, stake, np.zeros(1000), s)
                             .extractors < 10))
        for s in range(200)
    ]  # fmt: skip
    assert np.mean(uniform) < 0.3  # expected 10 * 10 / 1000 = 0.1


# -- welfare ------------------------------------------------------------------------------------


def test_welfare_of_passing_by_hand() -> None:
    stake = np.array([1.0, 2.0, 3.0])
    utility = np.array([0.5, -1.0, 2.0])
    voters = np.array([True, True, False])
    # (1 * 0.5 + 2 * -1) / (1 * 0.5 + 2 * 1) = -1.5 / 2.5
    assert welfare_of_passing(stake, utility, voters) == pytest.approx(-0.6)
    assert welfare_of_passing(stake, utility, np.zeros(3, dtype=bool)) == 0.0


@pytest.mark.parametrize(
    ("wp", "better", "worse", "expected"),
    [(0.4, True, False, 0.4), (0.4, False, True, -0.4), (-0.3, False, True, 0.3),
     (-0.3, True, True, 0.0), (-0.3, False, False, 0.0)],
)  # fmt: skip
def test_welfare_difference(wp: float, better: bool, worse: bool, expected: float) -> None:
    got = welfare_difference(wp, better, worse)
    assert got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)


def _influence(final: list[bool]) -> Influence:
    n = len(final)
    zeros = np.zeros(n, dtype=np.int32)
    return Influence(
        final_votes=np.array(final), flip_count=zeros, flip_round=zeros,
        flips_per_round=np.zeros(1, dtype=np.int64), yes_to_no=0, no_to_yes=0,
        whale_follows=zeros, ending=Ending.CONVERGED, period=1,
    )  # fmt: skip


def test_summary_of_a_hand_built_run() -> None:
    # Three voters, stakes 4, 2, 1, honest utilities -0.5, 0.2, 0.3. Agent 0 extracts 1.0 if it
    # passes: it votes yes (0.5 > 0). Honest tally: yes 3, no 4 -> fails; realised: yes 7 -> passes.
    honest_utility = np.array([-0.5, 0.2, 0.3])
    ev = ExtractableValue(extractors=np.array([0]), value=np.array([1.0]), spread=0.5, scale=1.0)
    realised = ev.apply(honest_utility)
    n = 3
    agents = Agents(
        archetype=np.zeros(n, dtype=np.int8), stake=np.array([4.0, 2.0, 1.0]),
        risk_tolerance=np.full(n, 0.5), conformity=np.zeros(n), threshold=np.ones(n),
        noise=np.zeros(n),
    )  # fmt: skip
    result = RunResult(
        params=SimParams(agents=n, mev_share=0.34), seed=1, agents=agents,
        proposal=Proposal(0.5, 0.5, 0.5), degree=np.zeros(n, dtype=np.int32),
        initial_votes=realised > 0, influence=_influence([True, True, True]),
        participated=np.ones(n, dtype=bool), utility=realised,
        mev=MevRun(extractable=ev, honest_utility=honest_utility,
                   honest=_influence([False, True, True])),
    )  # fmt: skip
    out = summarise(result, tally(result))
    assert out is not None
    assert (out.extractors, out.extractors_voting, out.votes_changed) == (1, 1, 1)
    assert out.stake_changed == 4.0
    assert out.passed_honest is False and out.yes_stake_honest == 3.0
    assert out.outcome_changed_by_mev is True
    wp = (4 * -0.5 + 2 * 0.2 + 1 * 0.3) / (4 * 0.5 + 2 * 0.2 + 1 * 0.3)  # -1.3 / 2.7
    assert out.welfare_pass == pytest.approx(wp)
    # honest outcome (fail, worth 0) minus realised (pass, worth wp); the better outcome is a fail
    assert out.welfare_loss == pytest.approx(-wp) and out.welfare_regret == pytest.approx(-wp)


# -- the engine ---------------------------------------------------------------------------------


def test_scenario_off_is_the_run_without_the_field() -> None:
    off = simulate(params(), 11)
    zero = simulate(params(mev_share=0.0), 11)
    assert off.mev is None and zero.mev is None
    assert np.array_equal(off.influence.final_votes, zero.influence.final_votes)
    assert np.array_equal(off.utility, zero.utility)


@pytest.mark.parametrize("schedule", ["random_fraction", "synchronous"])
def test_extractors_change_only_votes_and_the_counterfactual_is_the_run_without_them(
    schedule: str,
) -> None:
    seed = run_seed(4, 2)
    off = simulate(params(schedule=schedule, cascade_rounds=60), seed)
    on = simulate(params(schedule=schedule, cascade_rounds=60, mev_share=0.2, mev_value=3.0), seed)
    assert on.mev is not None
    # the same population, network and voters: the scenario draws from its own substream
    for name in ("stake", "archetype", "threshold", "conformity", "risk_tolerance"):
        assert np.array_equal(getattr(on.agents, name), getattr(off.agents, name))
    assert np.array_equal(on.degree, off.degree)
    assert np.array_equal(on.participated, off.participated)
    assert on.proposal == off.proposal
    # the honest counterfactual is the run without extractable value, flip for flip
    assert np.array_equal(on.mev.honest_utility, off.utility)
    assert np.array_equal(on.mev.honest.final_votes, off.influence.final_votes)
    assert np.array_equal(on.mev.honest.flips_per_round, off.influence.flips_per_round)
    # extractors vote on utility + value; everyone else as before
    ev = on.mev.extractable
    expected = off.utility.copy()
    expected[ev.extractors] += ev.value
    assert np.array_equal(on.initial_votes, expected > 0)
    others = np.setdiff1d(np.arange(N), ev.extractors)
    assert np.array_equal(on.initial_votes[others], off.initial_votes[others])
    assert len(ev.extractors) == 80 and np.all(ev.value > 0)


def test_no_extractable_value_leaves_the_run_as_it_is() -> None:
    seed = run_seed(4, 3)
    off = simulate(params(), seed, trace=True)
    on = simulate(params(mev_share=0.3, mev_value=0.0), seed, trace=True)
    assert on.mev is not None and np.all(on.mev.extractable.value == 0)
    assert np.array_equal(on.influence.final_votes, off.influence.final_votes)
    assert off.influence.trace is not None and on.influence.trace is not None
    assert np.array_equal(on.influence.trace.agent, off.influence.trace.agent)
    out = summarise(on, tally(on))
    assert out is not None and out.votes_changed == 0 and not out.outcome_changed_by_mev


def test_reproducible_and_seed_dependent() -> None:
    p = params(mev_share=0.1, mev_targeting="uniform")
    a, b, c = simulate(p, 5), simulate(p, 5), simulate(p, 6)
    assert a.mev is not None and b.mev is not None and c.mev is not None
    assert np.array_equal(a.mev.extractable.extractors, b.mev.extractable.extractors)
    assert np.array_equal(a.mev.extractable.value, b.mev.extractable.value)
    assert np.array_equal(a.influence.final_votes, b.influence.final_votes)
    assert not np.array_equal(a.mev.extractable.extractors, c.mev.extractable.extractors)


def test_value_for_passing_only_moves_votes_to_yes() -> None:
    seed = run_seed(8, 0)
    off = simulate(params(), seed)
    on = simulate(params(mev_share=0.5, mev_value=2.0), seed)
    assert np.all(on.initial_votes >= off.initial_votes)
    against = simulate(params(mev_share=0.5, mev_value=2.0, mev_against_share=1.0), seed)
    assert np.all(against.initial_votes <= off.initial_votes)
    assert np.any(on.initial_votes != off.initial_votes)


# -- parameters ---------------------------------------------------------------------------------


def test_mev_needs_rules_v05() -> None:
    with pytest.raises(ValidationError, match=r"mev_share: only used with rules v0\.5"):
        SimParams(rules="v0.4", mev_share=0.1)
    with pytest.raises(ValidationError, match=r"mev_targeting: only used with rules v0\.5"):
        SimParams(rules="v0.4", mev_targeting="uniform")


def test_mev_fields_are_left_out_of_records_at_their_defaults() -> None:
    assert "mev_share" not in SimParams().model_dump()
    dumped = SimParams(mev_share=0.1, mev_value=2.0).model_dump(mode="json")
    assert dumped["mev_share"] == 0.1 and dumped["mev_value"] == 2.0
    assert "mev_distribution" not in dumped  # at its default


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (("--mev-value", "3"), "govsim: error: --mev-value: only used with --mev-share > 0"),
        (("--mev-share", "0", "--mev-targeting", "uniform"),
         "govsim: error: --mev-targeting: only used with --mev-share > 0"),
        (("--mev-share", "1.5"), "govsim: error: --mev-share: 1.5 is outside [0, 1]"),
        (("--mev-share", "0.1", "--mev-value", "-1"),
         "govsim: error: --mev-value: -1 is outside [0, 1000]"),
        (("--mev-share", "0.1", "--mev-distribution", "normal"),
         "govsim: error: --mev-distribution: 'normal' is not one of constant, lognormal, pareto"),
        (("--mev-share", "0.1", "--mev-targeting", "whales"),
         "govsim: error: --mev-targeting: 'whales' is not one of uniform, stake"),
        (("--mev-share", "0.1", "--mev-against-share", "2"),
         "govsim: error: --mev-against-share: 2 is outside [0, 1]"),
        (("--rules", "v0.4", "--mev-share", "0.1"),
         "govsim: error: --mev-share: only used with --rules v0.5"),
    ],
)  # fmt: skip
def test_bad_mev_flags_are_one_line(
    flags: tuple[str, ...], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(list(flags)) == 2
    assert capsys.readouterr().err.strip() == line


def test_the_run_summary_states_the_honest_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--agents", "300", "--mev-share", "0.5", "--mev-value", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mev = [line for line in lines if line.startswith("  mev ")]
    assert len(mev) == 1
    assert re.fullmatch(
        r"  mev        150 extractors \(\d+ voted\), \d+ votes changed; honest outcome "
        r"(PASSED|FAILED)( \(changed by the extractable value\))?, welfare loss -?\d\.\d{3}",
        mev[0],
    )
    assert main(["--agents", "300"]) == 0
    assert "  mev " not in capsys.readouterr().out


def test_the_reference_engine_refuses_extractors() -> None:
    with pytest.raises(ParameterError, match="mev_share"):
        reference_simulate(params(mev_share=0.1), 1)
