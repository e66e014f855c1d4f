"""Seeds: run seeds and scenario substreams are pure functions of their inputs and independent."""

from __future__ import annotations

import numpy as np

from simulator.seeding import make_rng, run_seed, scenario_rng


def test_scenario_rng_is_reproducible_and_apart_from_the_main_stream() -> None:
    a = scenario_rng(12345, "delegation").random(8)
    assert np.array_equal(a, scenario_rng(12345, "delegation").random(8))
    assert not np.array_equal(a, make_rng(12345).random(8))
    assert not np.array_equal(a, scenario_rng(12345, "attack").random(8))
    assert not np.array_equal(a, scenario_rng(12346, "delegation").random(8))


def test_scenario_draws_leave_the_main_stream_untouched() -> None:
    main = make_rng(7)
    scenario_rng(7, "coalitions").random(1000)
    assert np.array_equal(main.random(4), make_rng(7).random(4))


def test_run_seeds_are_63_bit_and_differ_by_index() -> None:
    seeds = {run_seed(1, i) for i in range(100)}
    assert len(seeds) == 100
    assert all(0 <= s < 2**63 for s in seeds)
