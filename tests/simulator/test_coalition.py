"""Whale coalitions (docs/model.md 11.1): bloc formation, round 0, bloc switches and the signal.

Hand-built cases with results worked out by hand, the engine against the plain-Python reference,
reproducibility, and a run with the scenario off (or with blocs of one) against the engine
without it.
"""

from __future__ import annotations

import numpy as np
import pytest
from kit.engine import agents, graph
from pydantic import ValidationError

from simulator.cli import main as govsim
from simulator.coalition import NO_BLOC, Blocs, align_votes, bloc_leaders, form_blocs
from simulator.model import Influence, RunResult, run_influence, simulate
from simulator.params import (
    Archetype,
    CoalitionRevision,
    CoalitionRule,
    RuleSet,
    Schedule,
    SimParams,
)
from simulator.reference import reference_blocs, reference_simulate

W = Archetype.WHALE
O = Archetype.OPTIMIZER  # noqa: E741
MAJORITY, LEADER = CoalitionRule.STAKE_MAJORITY, CoalitionRule.LEADER


def blocs_of(bloc: list[int], rule: CoalitionRule = MAJORITY, **kw: object) -> Blocs:
    return Blocs(np.array(bloc, dtype=np.int32), max(bloc) + 1, rule, **kw)  # type: ignore[arg-type]


# ---- formation --------------------------------------------------------------------------------

# whales 0, 2, 3, 5, 6; agents 1 and 4 are not whales. Preference order (rho, then id):
# 2 (0.10), 6 (0.10), 3 (0.15), 0 (0.50), 5 (0.90)
RHO = [0.50, 0.05, 0.10, 0.15, 0.95, 0.90, 0.10]
IS_WHALE = [True, False, True, True, False, True, True]


@pytest.mark.parametrize(
    "span,size,expected,count",
    [
        # pairs in preference order: {2, 6}, {3, 0}; 5 is left on its own
        (1.0, 2, [1, -1, 0, 1, -1, -1, 0], 2),
        # groups of three: {2, 6, 3}, then {0, 5}
        (1.0, 3, [1, -1, 0, 0, -1, 1, 0], 2),
        # no size limit: one bloc of every whale
        (1.0, 0, [0, -1, 0, 0, -1, 0, 0], 1),
        # cells of width 0.25: [0, 0.25) holds 2, 6, 3; [0.5, 0.75) holds 0 alone; [0.75, 1) 5
        (0.25, 0, [-1, -1, 0, 0, -1, -1, 0], 1),
        # cells of width 0.5: {2, 6, 3} and {0, 5} (0.50 / 0.5 = 1 exactly: the upper cell)
        (0.5, 0, [1, -1, 0, 0, -1, 1, 0], 2),
        # cells and a size: [0, 0.25) cut into {2, 6} and {3}
        (0.25, 2, [-1, -1, 0, -1, -1, -1, 0], 1),
        # blocs of one are no blocs
        (1.0, 1, [-1] * 7, 0),
    ],
)
def test_blocs_are_consecutive_whales_in_preference_order(
    span: float, size: int, expected: list[int], count: int
) -> None:
    bloc, n = form_blocs(np.array(RHO), np.array(IS_WHALE), span=span, size=size)
    assert bloc.tolist() == expected
    assert n == count
    pop = agents([W if w else O for w in IS_WHALE], risk_tolerance=RHO)
    assert reference_blocs(pop, span=span, size=size) == expected


def test_a_lone_whale_forms_no_bloc() -> None:
    bloc, n = form_blocs(np.array([0.3, 0.4]), np.array([True, False]), span=1.0, size=0)
    assert bloc.tolist() == [NO_BLOC, NO_BLOC] and n == 0


# ---- round 0 ----------------------------------------------------------------------------------

# one bloc of agents 0, 1, 2 (stakes 3, 2, 2); agent 3 is outside
STAKE = np.array([3.0, 2.0, 2.0, 9.0])
BLOC = [0, 0, 0, -1]


@pytest.mark.parametrize(
    "rule,own,voting,expected",
    [
        # stake majority: 3 yes against 2 + 2 no
        (MAJORITY, [True, False, False, True], [True] * 4, [False, False, False, True]),
        # the leader (largest stake, agent 0) decides
        (LEADER, [True, False, False, True], [True] * 4, [True, True, True, True]),
        # agent 0 abstains: its entry stays; 2 no against 2 yes is a tie, the leader (agent 1,
        # the lowest id of the equal stakes) decides
        (
            MAJORITY,
            [True, False, True, False],
            [False, True, True, True],
            [True, False, False, False],
        ),
        (LEADER, [True, True, False, False], [False, True, True, True], [True, True, True, False]),
        # nobody in the bloc votes: nothing changes
        (
            MAJORITY,
            [True, False, False, True],
            [False, False, False, True],
            [True, False, False, True],
        ),
    ],
)
def test_a_blocs_voting_members_cast_its_round0_vote(
    rule: CoalitionRule, own: list[bool], voting: list[bool], expected: list[bool]
) -> None:
    out = align_votes(blocs_of(BLOC, rule), STAKE, np.array(voting), np.array(own))
    assert out.tolist() == expected


def test_the_leader_is_the_largest_voting_member() -> None:
    blocs = blocs_of([1, 0, 1, 0, -1])
    stake = np.array([5.0, 1.0, 5.0, 4.0, 50.0])
    assert bloc_leaders(blocs, stake, np.ones(5, dtype=bool)).tolist() == [3, 0]
    assert bloc_leaders(blocs, stake, np.array([0, 0, 1, 1, 1], dtype=bool)).tolist() == [3, 2]
    assert bloc_leaders(blocs, stake, np.array([1, 0, 1, 0, 1], dtype=bool)).tolist() == [-1, 0]


# ---- influence rounds -------------------------------------------------------------------------

# whales 0 and 1 form a bloc voting yes; whale 0's two neighbours (optimizers 2, 3, who never
# flip: threshold 1) vote no, so whale 0 would leave the bloc's vote; whale 1 is isolated.
SWITCH = graph(4, [(0, 2), (0, 3)])
SWITCH_VOTES = [True, True, False, False]


def rounds(
    pop_stake: list[float],
    blocs: Blocs | None,
    *,
    schedule: Schedule = Schedule.SYNCHRONOUS,
    bloc_rng: np.random.Generator | None = None,
) -> Influence:
    pop = agents([W, W, O, O], stake=pop_stake, threshold=[0.5, 0.5, 1.0, 1.0])
    return run_influence(
        SWITCH,
        pop,
        np.array(SWITCH_VOTES),
        conformity_threshold=0.5,
        max_rounds=10,
        rules=RuleSet.V0_5,
        schedule=schedule,
        rng=np.random.default_rng(0),
        blocs=blocs,
        bloc_rng=bloc_rng,
    )


@pytest.mark.parametrize(
    "stake,rule,revision,final,switches",
    [
        # the leaving member holds 10 of 11: the whole bloc switches, whale 1 with it
        ([10.0, 1.0, 1.0, 1.0], MAJORITY, "every_round", [False, False, False, False], 1),
        ([10.0, 1.0, 1.0, 1.0], LEADER, "every_round", [False, False, False, False], 1),
        # it holds 1 of 11: the bloc stays, and so does the member
        ([1.0, 10.0, 1.0, 1.0], MAJORITY, "every_round", SWITCH_VOTES, 0),
        ([1.0, 10.0, 1.0, 1.0], LEADER, "every_round", SWITCH_VOTES, 0),
        # equal stakes: a tie, and the leader (lowest id: whale 0) is leaving
        ([4.0, 4.0, 1.0, 1.0], MAJORITY, "every_round", [False, False, False, False], 1),
        # a bloc that never revises keeps its round-0 vote
        ([10.0, 1.0, 1.0, 1.0], MAJORITY, "never", SWITCH_VOTES, 0),
    ],
)
def test_a_bloc_switches_as_a_whole_when_its_rule_says_so(
    stake: list[float], rule: CoalitionRule, revision: str, final: list[bool], switches: int
) -> None:
    out = rounds(stake, blocs_of([0, 0, -1, -1], rule, revision=CoalitionRevision(revision)))
    assert out.final_votes.tolist() == final
    assert out.bloc_switches is not None and out.bloc_switches.tolist() == [switches]
    assert out.flips_per_round.tolist() == ([2, 0] if switches else [0])
    assert out.ending.value == "converged"


def test_blocs_whose_members_all_abstain_change_nothing() -> None:
    # the rounds run among voters: a bloc none of whose members votes has no member here
    lone = Blocs(np.full(4, NO_BLOC, dtype=np.int32), 1, MAJORITY)
    out = rounds([10.0, 1.0, 1.0, 1.0], lone)
    assert out.final_votes.tolist() == [False, True, False, False]  # whale 0 flips on its own
    assert out.bloc_switches is not None and out.bloc_switches.tolist() == [0]


def test_without_blocs_only_the_outvoted_whale_flips() -> None:
    out = rounds([10.0, 1.0, 1.0, 1.0], None)
    assert out.final_votes.tolist() == [False, True, False, False]
    assert out.bloc_switches is None


def test_random_fraction_draws_one_bloc_decision_from_the_bloc_generator() -> None:
    # the first draw of default_rng(1) is 0.51 (>= 0.5: no switch), the second 0.95, the third
    # 0.14 (< 0.5): the bloc switches in round 3; the main generator draws nothing (no other agent
    # would flip)
    first = np.random.default_rng(1).random(3)
    assert first[0] >= 0.5 and first[1] >= 0.5 and first[2] < 0.5
    out = rounds(
        [10.0, 1.0, 1.0, 1.0],
        blocs_of([0, 0, -1, -1]),
        schedule=Schedule.RANDOM_FRACTION,
        bloc_rng=np.random.default_rng(1),
    )
    assert out.flips_per_round.tolist() == [0, 0, 2, 0]
    assert out.final_votes.tolist() == [False, False, False, False]


# ---- the whale signal -------------------------------------------------------------------------

# follower 0 (an optimizer with conformity 1) is next to whales 1 and 2; whale 1 is in a bloc
# with whale 3, which is not next to the follower. Whales never flip (threshold 1).
SIGNAL = graph(4, [(0, 1), (0, 2)])


@pytest.mark.parametrize(
    "stake,votes,bloc,expected",
    [
        # alone: yes 1 against no 5, the follower votes no; the bloc's stake 1 + 10 wins yes
        ([1.0, 1.0, 5.0, 10.0], [False, True, False, True], None, False),
        ([1.0, 1.0, 5.0, 10.0], [False, True, False, True], [-1, 0, -1, 0], True),
    ],
)
def test_followers_weigh_a_bloc_with_the_stake_of_all_its_voters(
    stake: list[float], votes: list[bool], bloc: list[int] | None, expected: bool
) -> None:
    pop = agents([O, W, W, W], stake=stake, conformity=[1.0, 0, 0, 0])
    out = run_influence(
        SIGNAL, pop, np.array(votes), conformity_threshold=0.5, max_rounds=3,
        rules=RuleSet.V0_5, blocs=None if bloc is None else blocs_of(bloc),
    )  # fmt: skip
    assert bool(out.final_votes[0]) is expected


def test_a_bloc_next_to_a_follower_twice_counts_once() -> None:
    # follower 0 next to whales 1 and 2 (one bloc: 1 + 10 yes) and whale 3 (12, no): counted
    # once the bloc has 11 < 12 and the follower votes no; counted twice it would have 22
    adjacency = graph(4, [(0, 1), (0, 2), (0, 3)])
    pop = agents([O, W, W, W], stake=[1.0, 1.0, 10.0, 12.0], conformity=[1.0, 0, 0, 0])
    out = run_influence(
        adjacency, pop, np.array([True, True, True, False]), conformity_threshold=0.5,
        max_rounds=3, rules=RuleSet.V0_5, blocs=blocs_of([-1, 0, 0, -1]),
    )  # fmt: skip
    assert out.final_votes.tolist() == [False, True, True, False]
    assert out.whale_follows.tolist() == [1, 0, 0, 0]


# ---- whole runs -------------------------------------------------------------------------------


def _same_run(a: RunResult, b: RunResult) -> None:
    fa, fb = a.influence, b.influence
    assert np.array_equal(a.initial_votes, b.initial_votes)
    assert np.array_equal(fa.final_votes, fb.final_votes)
    assert np.array_equal(fa.flip_count, fb.flip_count)
    assert np.array_equal(fa.flip_round, fb.flip_round)
    assert np.array_equal(fa.flips_per_round, fb.flips_per_round)
    assert np.array_equal(fa.whale_follows, fb.whale_follows)
    assert fa.ending is fb.ending


@pytest.mark.parametrize("schedule", ["random_fraction", "synchronous"])
@pytest.mark.parametrize("rule", ["stake_majority", "leader"])
@pytest.mark.parametrize(
    "size,span,seeds",
    [(3, 1.0, (0, 1)), (10, 1.0, (0, 2)), (0, 0.25, (0, 2)), (0, 1.0, (11, 21))],
)
def test_engine_agrees_with_the_reference(
    schedule: str, rule: str, size: int, span: float, seeds: tuple[int, ...]
) -> None:
    switched = followed = 0
    for seed in seeds:
        params = SimParams(
            agents=800, cascade_rounds=100, schedule=schedule, coalition_rule=rule,
            coalition_size=size, coalition_span=span,
        )  # fmt: skip
        engine, ref = (
            simulate(params, seed, trace=True),
            reference_simulate(params, seed, trace=True),
        )
        _same_run(engine, ref)
        assert engine.blocs is not None and ref.blocs is not None
        assert np.array_equal(engine.blocs.bloc, ref.blocs.bloc)
        switches = engine.influence.bloc_switches
        assert switches is not None and np.array_equal(switches, ref.influence.bloc_switches)  # type: ignore[arg-type]
        assert engine.influence.trace is not None and ref.influence.trace is not None
        assert np.array_equal(engine.influence.trace.agent, ref.influence.trace.agent)
        assert np.array_equal(engine.influence.trace.cause, ref.influence.trace.cause)
        switched += int(switches.sum())
        followed += int(engine.influence.whale_follows.sum())
    # the seeds are chosen so that every case exercises both the signal and bloc switches
    assert followed > 0 and switched > 0


def test_same_seed_same_run_other_seed_other_run() -> None:
    params = SimParams(agents=2000, coalition_rule="stake_majority", coalition_size=10)
    a, b, c = simulate(params, 5), simulate(params, 5), simulate(params, 6)
    _same_run(a, b)
    assert np.array_equal(a.blocs.bloc, b.blocs.bloc)  # type: ignore[union-attr]
    assert not np.array_equal(a.blocs.bloc, c.blocs.bloc)  # type: ignore[union-attr]
    assert not np.array_equal(a.initial_votes, c.initial_votes)


@pytest.mark.parametrize("schedule", ["random_fraction", "synchronous"])
def test_coalitions_draw_nothing_from_the_runs_generator(schedule: str) -> None:
    # blocs of one are no blocs: the run is the run without coalitions, flip for flip; and with
    # blocs, the population, network and turnout draws are those of the run without them
    off = simulate(SimParams(agents=3000, schedule=schedule), 11)
    alone = simulate(
        SimParams(agents=3000, schedule=schedule, coalition_rule="leader", coalition_size=1), 11
    )
    _same_run(off, alone)
    on = simulate(SimParams(agents=3000, schedule=schedule, coalition_rule="stake_majority"), 11)
    for name in ("stake", "risk_tolerance", "conformity", "threshold", "noise", "archetype"):
        assert np.array_equal(getattr(off.agents, name), getattr(on.agents, name))
    assert np.array_equal(off.participated, on.participated)
    assert np.array_equal(off.degree, on.degree)
    assert np.array_equal(off.utility, on.utility)
    assert not np.array_equal(off.initial_votes, on.initial_votes)  # the bloc overruled some


def test_scenario_off_parameters_serialize_as_before() -> None:
    dumped = SimParams(agents=100).model_dump(mode="json")
    assert not any(name.startswith("coalition_") for name in dumped)
    on = SimParams(agents=100, coalition_rule="leader", coalition_size=3).model_dump(mode="json")
    assert on["coalition_rule"] == "leader" and on["coalition_size"] == 3
    assert "coalition_span" not in on  # at its default


# ---- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"coalition_size": 3}, "coalition_size: 3 needs coalition_rule stake_majority or leader"),
        ({"coalition_span": 0.5}, "coalition_span: 0.5 needs coalition_rule"),
        ({"coalition_revision": "never"}, "coalition_revision: never needs coalition_rule"),
        (
            {"coalition_rule": "leader", "rules": "v0.4"},
            "coalition_rule: only used with rules v0.5",
        ),
        ({"coalition_rule": "majority"}, "coalition_rule"),
        ({"coalition_rule": "leader", "coalition_size": -1}, "coalition_size"),
        ({"coalition_rule": "leader", "coalition_span": 0.0}, "coalition_span"),
        ({"coalition_rule": "leader", "coalition_span": 1.5}, "coalition_span"),
    ],
)
def test_bad_coalition_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimParams(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--coalition-rule", "bloc"],
            "--coalition-rule: 'bloc' is not one of none, stake_majority, leader",
        ),
        (
            ["--coalition-size", "4"],
            "--coalition-size: 4 needs coalition_rule stake_majority or leader (coalition_rule is "
            "none: coalitions are off)",
        ),
        (
            ["--coalition-rule", "leader", "--coalition-size", "x"],
            "--coalition-size: 'x' is not an integer",
        ),
        (
            ["--coalition-rule", "leader", "--coalition-span", "0"],
            "--coalition-span: 0 is outside [0.001, 1]",
        ),
        (
            ["--coalition-rule", "leader", "--coalition-revision", "sometimes"],
            "--coalition-revision: 'sometimes' is not one of every_round, never",
        ),
        (
            ["--rules", "v0.4", "--coalition-rule", "leader"],
            "--coalition-rule: only used with --rules v0.5",
        ),
    ],
)
def test_govsim_refuses_bad_coalition_flags_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert govsim(["--agents", "50", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"govsim: error: {message}\n"


def test_govsim_summary_states_the_coalitions(capsys: pytest.CaptureFixture[str]) -> None:
    # 300 agents at whale_ratio 0.15: 45 whales in blocs of 5, so 9 blocs
    assert govsim(["--agents", "300", "--coalition-rule", "leader", "--coalition-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "  coalitions leader: 9 blocs of 45 whales," in out
    assert govsim(["--agents", "300"]) == 0
    assert "coalitions" not in capsys.readouterr().out
