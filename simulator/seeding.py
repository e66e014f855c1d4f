"""Seeds: the one place where random generators are made.

A run's seed derives from a base seed (``--seed`` or the sweep seed) and the run's index through
``numpy.random.SeedSequence(base_seed, spawn_key=(index,))``, never from time or process ids, so a
run's result does not depend on where or in which order it is scheduled.
"""

from __future__ import annotations

import numpy as np


def run_seed(base_seed: int, index: int) -> int:
    """The 63-bit seed of run ``index`` under ``base_seed``."""
    seq = np.random.SeedSequence(base_seed, spawn_key=(index,))
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def make_rng(seed: int) -> np.random.Generator:
    """The generator a run with this seed uses for everything it draws."""
    return np.random.default_rng(np.random.SeedSequence(seed))
