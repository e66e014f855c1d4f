"""Agent populations: exact counts, attribute ranges, heavy-tailed whales, proposals."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.agents import STAKE_QUANTUM, archetype_counts, draw_agents
from simulator.params import ARCHETYPES, Archetype, ArchetypeMix, SimParams
from simulator.proposal import draw_proposal


@pytest.mark.parametrize(
    "n,ratio,whales",
    [(50, 0.15, 8), (10, 0.25, 3), (10, 0.0, 0), (7, 1.0, 7), (1, 0.5, 1), (3, 0.1, 0)],
)
def test_whale_count_is_ratio_times_n_rounded_half_up(n: int, ratio: float, whales: int) -> None:
    counts = archetype_counts(SimParams(agents=n, whale_ratio=ratio))
    assert counts[Archetype.WHALE] == whales
    assert sum(counts.values()) == n


def test_others_split_by_largest_remainder() -> None:
    # 8 whales (7.5 rounds up); 42 others at 0.2/0.2/0.1/0.15/0.35 -> quotas 8.4, 8.4, 4.2,
    # 6.3, 14.7: floors sum to 40, the 2 left go to retail (.7) and optimizer (.4, first of a tie)
    counts = archetype_counts(SimParams(agents=50, whale_ratio=0.15))
    assert [counts[a] for a in ARCHETYPES] == [9, 8, 4, 6, 15, 8]
    # equal remainders go to the earlier archetype
    even = ArchetypeMix(optimizer=1, reputation_seeker=1, contrarian=1, institutional=0, retail=0)
    counts = archetype_counts(SimParams(agents=4, whale_ratio=0, archetype_mix=even))
    assert [counts[a] for a in ARCHETYPES] == [2, 1, 1, 0, 0, 0]


def test_zero_weight_archetypes_are_absent() -> None:
    mix = ArchetypeMix(optimizer=0, reputation_seeker=0, contrarian=0, institutional=0, retail=1)
    pop = draw_agents(SimParams(agents=200, archetype_mix=mix), np.random.default_rng(0))
    assert set(np.unique(pop.archetype).tolist()) == {
        ARCHETYPES.index(Archetype.RETAIL),
        ARCHETYPES.index(Archetype.WHALE),
    }


def test_attributes_are_in_range_and_whales_are_heavy_tailed() -> None:
    pop = draw_agents(SimParams(agents=20_000), np.random.default_rng(1))
    assert pop.archetype.dtype == np.int8 and len(pop) == 20_000
    for col in (pop.risk_tolerance, pop.conformity, pop.threshold):
        assert col.min() >= 0 and col.max() <= 1
    assert pop.stake.min() > 0
    assert np.all(pop.stake / STAKE_QUANTUM == np.round(pop.stake / STAKE_QUANTUM))
    whale = pop.archetype == ARCHETYPES.index(Archetype.WHALE)
    retail = pop.archetype == ARCHETYPES.index(Archetype.RETAIL)
    contrarian = pop.archetype == ARCHETYPES.index(Archetype.CONTRARIAN)
    assert pop.stake[whale].min() >= 1000
    assert np.median(pop.stake[whale]) > 100 * np.median(pop.stake[retail])
    # heavy tail: the largest whale holds far more than the median whale
    assert pop.stake[whale].max() > 50 * np.median(pop.stake[whale])
    assert pop.threshold[contrarian].min() >= 0.5
    assert np.all(pop.noise[~retail] == 0) and pop.noise[retail].std() > 0.2
    assert pop.risk_tolerance[whale].mean() > pop.risk_tolerance[~whale].mean()


def test_archetypes_are_shuffled_over_agent_ids() -> None:
    pop = draw_agents(SimParams(agents=1000), np.random.default_rng(2))
    first = pop.archetype[:100]
    assert len(np.unique(first)) == 6


def test_same_generator_state_same_agents() -> None:
    a = draw_agents(SimParams(agents=300), np.random.default_rng(9))
    b = draw_agents(SimParams(agents=300), np.random.default_rng(9))
    for name in ("archetype", "stake", "risk_tolerance", "conformity", "threshold", "noise"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


def test_proposal_attributes_are_uniform_draws() -> None:
    rng = np.random.default_rng(3)
    draws = np.array(
        [[p.risk, p.yield_, p.complexity] for p in (draw_proposal(rng) for _ in range(2000))]
    )
    assert draws.min() >= 0 and draws.max() < 1
    assert np.all(np.abs(draws.mean(axis=0) - 0.5) < 0.03)
