"""Flip traces: the engine's rows against the reference's, what they rebuild, and their causes."""

from __future__ import annotations

import numpy as np
import pytest
from kit.engine import agents, graph

from simulator.model import Influence, influence_among_voters, run_influence, simulate
from simulator.params import Archetype, Calibration, InfluenceModel, RuleSet, Schedule, SimParams
from simulator.reference import reference_simulate
from simulator.trace import CAUSES, Cause, Trace

R = Archetype.RETAIL
W = Archetype.WHALE
O = Archetype.OPTIMIZER  # noqa: E741
COLUMNS = ("agent", "round", "from_vote", "cause")


def assert_same_trace(a: Trace | None, b: Trace | None) -> None:
    assert a is not None and b is not None
    for name in COLUMNS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def replay(initial: np.ndarray, trace: Trace, n: int) -> dict[str, np.ndarray]:
    """Apply the trace's rows in order to the round-0 votes; check each row's from_vote."""
    votes = initial.copy()
    flip_count = np.zeros(n, dtype=np.int64)
    flip_round = np.zeros(n, dtype=np.int64)
    whale = np.zeros(n, dtype=np.int64)
    signal = CAUSES.index(Cause.WHALE_SIGNAL)
    for agent, t, before, to, cause in zip(
        trace.agent.tolist(),
        trace.round.tolist(),
        trace.from_vote.tolist(),
        trace.to_vote.tolist(),
        trace.cause.tolist(),
        strict=True,
    ):
        assert votes[agent] == before and to == (not before)
        votes[agent] = to
        flip_count[agent] += 1
        flip_round[agent] = flip_round[agent] or t
        whale[agent] += cause == signal
    return {"votes": votes, "flip_count": flip_count, "flip_round": flip_round, "whale": whale}


# v0.4 (synchronous), v0.5 synchronous and random_fraction, and the v0.5 population with
# abstainers (the rounds run among voters: trace ids must be ids among all agents)
CASES = [
    SimParams(agents=90, mean_degree=5, cascade_rounds=8, whale_ratio=0.2, rules=RuleSet.V0_4),
    SimParams(
        agents=120,
        mean_degree=6,
        cascade_rounds=40,
        rules=RuleSet.V0_5,
        schedule=Schedule.SYNCHRONOUS,
        influence_model=InfluenceModel.SMALL_WORLD,
    ),
    SimParams(agents=150, mean_degree=6, cascade_rounds=60, rules=RuleSet.V0_5),
    SimParams(
        agents=300,
        mean_degree=25,
        cascade_rounds=60,
        conformity_threshold=0.3,
        rules=RuleSet.V0_5,
        schedule=Schedule.SYNCHRONOUS,
        calibration=Calibration.COMPOUND,
    ),
    SimParams(
        agents=300,
        mean_degree=25,
        cascade_rounds=60,
        conformity_threshold=0.3,
        rules=RuleSet.V0_5,
        schedule=Schedule.RANDOM_FRACTION,
        calibration=Calibration.UNISWAP,
    ),
]


@pytest.mark.parametrize("params", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engine_trace_equals_the_reference_trace(params: SimParams, seed: int) -> None:
    engine = simulate(params, seed, trace=True).influence.trace
    reference = reference_simulate(params, seed, trace=True).influence.trace
    assert_same_trace(engine, reference)


def test_the_cases_flip_for_both_causes_and_among_abstainers() -> None:
    """The table above exercises what it claims: both causes, and runs with abstainers."""
    causes, with_abstainers = set(), 0
    for params in CASES:
        for seed in (0, 1, 2):
            run = simulate(params, seed, trace=True)
            assert run.influence.trace is not None
            causes |= set(run.influence.trace.cause.tolist())
            if not run.participated.all() and len(run.influence.trace):
                with_abstainers += 1
    assert causes == {0, 1} and with_abstainers >= 3


@pytest.mark.parametrize("params", CASES, ids=range(len(CASES)))
def test_trace_rows_rebuild_the_final_votes_and_the_counters(params: SimParams) -> None:
    run = simulate(params, 7, trace=True)
    f = run.influence
    assert f.trace is not None
    rebuilt = replay(run.initial_votes, f.trace, params.agents)
    assert np.array_equal(rebuilt["votes"], f.final_votes)
    assert np.array_equal(rebuilt["flip_count"], f.flip_count)
    assert np.array_equal(rebuilt["flip_round"], f.flip_round)
    assert np.array_equal(rebuilt["whale"], f.whale_follows)
    per_round = np.bincount(f.trace.round, minlength=f.rounds_run + 1)[1:]
    assert per_round.tolist() == f.flips_per_round.tolist()
    assert int(np.count_nonzero(f.trace.from_vote)) == f.yes_to_no
    assert run.participated[f.trace.agent].all()  # only voters flip
    keys = f.trace.round.astype(np.int64) * params.agents + f.trace.agent
    assert np.all(np.diff(keys) > 0)  # round order, then agent order


def test_a_trace_changes_nothing_else_and_costs_nothing_when_off() -> None:
    params = CASES[2]
    plain, traced = simulate(params, 3), simulate(params, 3, trace=True)
    assert plain.influence.trace is None
    for name in ("final_votes", "flip_count", "flip_round", "flips_per_round", "whale_follows"):
        assert np.array_equal(getattr(plain.influence, name), getattr(traced.influence, name))
    assert traced.influence.trace is not None and len(traced.influence.trace) > 0
    trace = traced.influence.trace
    assert (trace.agent.dtype, trace.round.dtype) == (np.int32, np.int32)
    assert (trace.from_vote.dtype, trace.cause.dtype) == (np.bool_, np.int8)


def rounds(adjacency, population, votes, **kw) -> Influence:  # type: ignore[no-untyped-def]
    return run_influence(
        adjacency,
        population,
        np.asarray(votes, dtype=bool),
        conformity_threshold=0.6,
        max_rounds=kw.pop("max_rounds", 10),
        rules=kw.pop("rules", RuleSet.V0_5),
        trace=True,
        **kw,
    )


def rows(out: Influence) -> list[tuple[int, int, bool, str]]:
    assert out.trace is not None
    return [
        (a, t, f, CAUSES[c].value)
        for a, t, f, c in zip(
            out.trace.agent.tolist(),
            out.trace.round.tolist(),
            out.trace.from_vote.tolist(),
            out.trace.cause.tolist(),
            strict=True,
        )
    ]


def test_a_whale_follower_flips_from_the_signal_and_a_plain_agent_from_its_neighbours() -> None:
    # 0 whale (yes, heavy); 1 follower of 0 (conformity 1, votes no) although its other two
    # neighbours (3, 4) vote no; 2 an optimizer that is not a follower (conformity 0) whose three
    # neighbours 0, 5, 6 vote yes: it flips by the threshold rule.
    adjacency = graph(7, [(0, 1), (1, 3), (1, 4), (0, 2), (2, 5), (2, 6)])
    pop = agents(
        [W, R, O, R, R, R, R],
        stake=[100, 1, 1, 1, 1, 1, 1],
        conformity=[0, 1, 0, 0, 0, 0, 0],
        threshold=[1, 1, 0.2, 1, 1, 1, 1],
    )
    out = rounds(adjacency, pop, [True, False, False, False, False, True, True])
    assert rows(out) == [(1, 1, False, "whale_signal"), (2, 1, False, "neighbours")]
    assert out.whale_follows.tolist() == [0, 1, 0, 0, 0, 0, 0]


def test_a_follower_swapping_with_its_whale_is_traced_round_by_round() -> None:
    # whale 1 sees only follower 0 (disagreeing) and flips; 0 follows 1's previous vote: a cycle
    pair = graph(2, [(0, 1)])
    pop = agents([R, W], stake=[1, 1000], conformity=[1, 0], threshold=[1, 0.4])
    out = rounds(pair, pop, [False, True])
    assert rows(out) == [
        (0, 1, False, "whale_signal"),
        (1, 1, True, "neighbours"),
        (0, 2, True, "whale_signal"),
        (1, 2, False, "neighbours"),
    ]


def test_among_voters_the_trace_names_agents_by_their_ids_among_all_agents() -> None:
    # abstainers 0 and 2 drop out; voters 1, 3, 4 are 0, 1, 2 on the subgraph
    adjacency = graph(5, [(1, 3), (3, 4), (0, 1), (2, 4)])
    pop = agents([R, R, R, O, R], threshold=[1, 1, 1, 0.2, 1])
    votes = np.array([False, True, False, False, True])
    participated = np.array([False, True, False, True, True])
    out = influence_among_voters(
        adjacency,
        pop,
        votes,
        participated,
        conformity_threshold=0.6,
        max_rounds=10,
        rules=RuleSet.V0_5,
        trace=True,
    )
    assert rows(out) == [(3, 1, False, "neighbours")]
    assert out.final_votes.tolist() == [False, True, False, True, True]
