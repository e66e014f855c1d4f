"""The engine against the plain-Python reference, and its invariants under random parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import ParameterError
from simulator.model import Ending, RunResult, simulate
from simulator.params import (
    ARCHETYPES,
    Archetype,
    ArchetypeMix,
    Calibration,
    InfluenceModel,
    RuleSet,
    Schedule,
    SimParams,
)
from simulator.reference import reference_simulate

ARRAYS = ("final_votes", "flip_count", "flip_round", "flips_per_round", "whale_follows")
SCALARS = ("yes_to_no", "no_to_yes", "whale_signal_followers", "rounds_run", "ending", "period")


def assert_same_run(a: RunResult, b: RunResult) -> None:
    assert np.array_equal(a.degree, b.degree)
    assert np.array_equal(a.initial_votes, b.initial_votes)
    for name in ARRAYS:
        assert np.array_equal(getattr(a.influence, name), getattr(b.influence, name)), name
    for name in SCALARS:
        assert getattr(a.influence, name) == getattr(b.influence, name), name
    assert a.proposal == b.proposal
    for name in ("archetype", "stake", "risk_tolerance", "conformity", "threshold", "noise"):
        assert np.array_equal(getattr(a.agents, name), getattr(b.agents, name)), name
    assert np.array_equal(a.participated, b.participated)
    assert np.array_equal(a.utility, b.utility)


@pytest.mark.parametrize("model", list(InfluenceModel))
@pytest.mark.parametrize("rounds", [1, 3, 12])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_engine_matches_reference_flip_for_flip(
    model: InfluenceModel, rounds: int, seed: int
) -> None:
    params = SimParams(
        agents=60 + 37 * seed,
        influence_model=model,
        mean_degree=4 + 2 * seed,
        cascade_rounds=rounds,
        conformity_threshold=0.4 + 0.1 * seed,
        whale_ratio=0.1 + 0.05 * seed,
    )
    engine, reference = simulate(params, seed), reference_simulate(params, seed)
    assert_same_run(engine, reference)


@pytest.mark.parametrize("schedule", list(Schedule))
@pytest.mark.parametrize("model", list(InfluenceModel))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v05_engine_matches_reference_flip_for_flip(
    schedule: Schedule, model: InfluenceModel, seed: int
) -> None:
    params = SimParams(
        rules=RuleSet.V0_5,
        schedule=schedule,
        agents=80 + 61 * seed,
        influence_model=model,
        mean_degree=3 + 3 * seed,
        cascade_rounds=80,
        conformity_threshold=0.4 + 0.1 * seed,
        whale_ratio=0.1 + 0.05 * seed,
        update_fraction=0.3 + 0.3 * seed,
    )
    engine, reference = simulate(params, seed), reference_simulate(params, seed)
    assert_same_run(engine, reference)
    assert engine.influence.ending is not Ending.ROUND_CAP


def test_v05_engine_matches_reference_at_defaults() -> None:
    params = SimParams(rules=RuleSet.V0_5, agents=1500)  # mean degree 10, random_fraction
    for seed in (5, 6):
        engine = simulate(params, seed)
        assert engine.influence.ending is Ending.CONVERGED
        assert_same_run(engine, reference_simulate(params, seed))


@pytest.mark.parametrize("schedule", list(Schedule))
@pytest.mark.parametrize("calibration", list(Calibration))
@pytest.mark.parametrize("seed", [0, 2, 3])
def test_engine_matches_reference_under_v05_population(
    schedule: Schedule, calibration: Calibration, seed: int
) -> None:
    """Rules v0.5 as a whole: the v0.5 flip rule and schedule run among the v0.5 voters."""
    params = SimParams(
        agents=200 + 100 * seed,
        mean_degree=20 + 5 * seed,  # about a fifth votes: voters have a few voting neighbours
        influence_model=list(InfluenceModel)[seed % 2],
        cascade_rounds=60,
        conformity_threshold=0.3 + 0.2 * seed,
        rules=RuleSet.V0_5,
        schedule=schedule,
        calibration=calibration,
    )
    engine, reference = simulate(params, seed), reference_simulate(params, seed)
    assert 0 < engine.participated.sum() < params.agents  # abstainers present
    assert engine.influence.flips_per_round.sum() > 0  # and the rounds do something
    assert engine.influence.ending is not Ending.ROUND_CAP  # the cascade ran to its end
    assert_same_run(engine, reference)


def test_v05_synchronous_runs_among_voters_reach_both_endings() -> None:
    """Some of the runs above end in a 2-cycle and some converge (the seeds were chosen so)."""
    endings = {
        simulate(
            SimParams(
                agents=200 + 100 * seed,
                mean_degree=20 + 5 * seed,
                influence_model=list(InfluenceModel)[seed % 2],
                cascade_rounds=60,
                conformity_threshold=0.3 + 0.2 * seed,
                rules=RuleSet.V0_5,
                schedule=Schedule.SYNCHRONOUS,
            ),
            seed,
        ).influence.ending
        for seed in (0, 3)
    }
    assert endings == {Ending.CYCLE, Ending.CONVERGED}


def test_engine_matches_reference_on_a_dense_default_network() -> None:
    params = SimParams(agents=150, cascade_rounds=6)  # density 0.2 as the CLI default
    assert_same_run(simulate(params, 99), reference_simulate(params, 99))


def test_same_seed_same_run_other_seed_other_run() -> None:
    params = SimParams(agents=400, mean_degree=6, cascade_rounds=5)
    assert_same_run(simulate(params, 7), simulate(params, 7))
    other = simulate(params, 8)
    assert other.proposal != simulate(params, 7).proposal
    assert not np.array_equal(other.agents.stake, simulate(params, 7).agents.stake)


def test_v05_random_schedule_same_seed_same_run_other_seed_other_flips() -> None:
    params = SimParams(rules=RuleSet.V0_5, agents=3000)
    a, b = simulate(params, 7), simulate(params, 7)
    assert_same_run(a, b)
    other = simulate(params, 8)
    assert not np.array_equal(a.influence.flip_round, other.influence.flip_round)


def test_negative_seed_is_rejected() -> None:
    with pytest.raises(ParameterError, match="seed"):
        simulate(SimParams(agents=5), -1)


@st.composite
def sim_params(draw: st.DrawFn) -> SimParams:
    n = draw(st.integers(1, 80))
    mix = ArchetypeMix(
        **{
            name: draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
            for name in ("optimizer", "reputation_seeker", "contrarian", "institutional")
        },
        retail=draw(st.sampled_from([0.1, 1.0])),
    )
    density = draw(st.one_of(st.none(), st.floats(0, 1)))
    return SimParams(
        agents=n,
        whale_ratio=draw(st.floats(0, 1)),
        conformity_threshold=draw(st.floats(0, 1)),
        influence_model=draw(st.sampled_from(list(InfluenceModel))),
        network_density=density,
        mean_degree=None if density is not None else draw(st.floats(0.5, 30)),
        rewire_prob=draw(st.floats(0, 1)),
        cascade_rounds=draw(st.integers(1, 6)),
        archetype_mix=mix,
        rules=RuleSet.V0_4,
    )


@settings(max_examples=60, deadline=None)
@given(params=sim_params(), seed=st.integers(0, 2**63 - 1))
def test_run_invariants(params: SimParams, seed: int) -> None:
    r = simulate(params, seed)
    f = r.influence
    n = params.agents
    assert len(r.initial_votes) == len(f.final_votes) == len(r.degree) == n
    # flips: per agent, per round and per direction all count the same events
    total = int(f.flip_count.sum())
    assert total == int(f.flips_per_round.sum()) == f.yes_to_no + f.no_to_yes
    assert np.array_equal(f.flip_count > 0, f.flip_round > 0)
    assert f.flip_round.max(initial=0) <= f.rounds_run == len(f.flips_per_round)
    assert 1 <= f.rounds_run <= params.cascade_rounds
    assert f.rounds_run == params.cascade_rounds or f.flips_per_round[-1] == 0
    assert np.all(f.flips_per_round[:-1] > 0)
    # an agent's final vote differs from its first exactly when it flipped an odd number of times
    assert np.array_equal(f.final_votes != r.initial_votes, f.flip_count % 2 == 1)
    assert f.no_to_yes - f.yes_to_no == int(f.final_votes.sum()) - int(r.initial_votes.sum())
    assert f.whale_signal_followers <= total
    # stake tallies are exact: yes and no always add up to the total stake
    stake = r.agents.stake
    for votes in (r.initial_votes, f.final_votes):
        assert float(stake[votes].sum()) + float(stake[~votes].sum()) == float(stake.sum())
    assert np.all(r.degree <= n - 1)
    # under v0.4 everyone votes, and round 0 votes yes exactly on a positive utility
    assert r.participated.all()
    assert np.array_equal(r.initial_votes, r.utility > 0)


@settings(max_examples=60, deadline=None)
@given(
    base=sim_params(),
    schedule=st.sampled_from(list(Schedule)),
    fraction=st.floats(0.05, 1),
    calibration=st.sampled_from(list(Calibration)),
    seed=st.integers(0, 2**63 - 1),
)
def test_v05_run_invariants(
    base: SimParams, schedule: Schedule, fraction: float, calibration: Calibration, seed: int
) -> None:
    params = SimParams(
        **{
            **base.model_dump(),
            "rules": RuleSet.V0_5,
            "schedule": schedule,
            "update_fraction": fraction,
            "calibration": calibration,
        }
    )
    r = simulate(params, seed)
    f = r.influence
    total = int(f.flip_count.sum())
    assert total == int(f.flips_per_round.sum()) == f.yes_to_no + f.no_to_yes
    assert np.array_equal(f.final_votes != r.initial_votes, f.flip_count % 2 == 1)
    assert 1 <= f.rounds_run <= params.cascade_rounds
    contrarian = r.agents.archetype == ARCHETYPES.index(Archetype.CONTRARIAN)
    assert np.all(f.flip_count[contrarian] <= 1)  # a contrarian dissents once
    per_round = f.flips_per_round.tolist()
    if f.ending is Ending.CONVERGED:
        assert per_round[-1] == 0 and f.period == 1
        assert f.converged_round is not None and f.flip_round.max(initial=0) <= f.converged_round
    elif f.ending is Ending.CYCLE:
        assert schedule is Schedule.SYNCHRONOUS and f.period == 2
        assert len(per_round) >= 2 and per_round[-1] == per_round[-2] > 0
    else:
        assert f.rounds_run == params.cascade_rounds and f.period == 0
    if schedule is Schedule.SYNCHRONOUS:
        assert 0 not in per_round[:-1]
    # abstainers never flip and keep their round-0 entry
    assert not f.flip_count[~r.participated].any()
    assert np.array_equal(f.final_votes[~r.participated], r.initial_votes[~r.participated])
    assert np.array_equal(r.initial_votes, r.utility > 0)
