"""Seeds: the one place where random generators are made.

A run's seed derives from a base seed (``--seed`` or the sweep seed) and a key through
``numpy.random.SeedSequence(base_seed, spawn_key=(key,))``, never from time or process ids, so a
run's result does not depend on where or in which order it is scheduled. For ``govsim`` runs the
key is the run's index (:func:`run_seed`); a sweep's run is keyed by what it is, its point's
parameters and its replicate (:func:`content_seed`), so that a run keeps its seed when the sweep
around it grows.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Annotated

import numpy as np
from pydantic import Field

MAX_SEED = 2**63 - 1
BaseSeed = Annotated[int, Field(ge=0, le=MAX_SEED)]
"""A base seed (``govsim --seed``, a sweep's ``seed``): an integer in ``[0, 2^63)``.

One limit wherever a seed is given, so a seed that one entry point accepts every other accepts
too, and it fits the signed 64-bit integer columns of results tables.
"""


def run_seed(base_seed: int, index: int) -> int:
    """The 63-bit seed of run ``index`` under ``base_seed``."""
    seq = np.random.SeedSequence(base_seed, spawn_key=(index,))
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def content_key(content: str, replicate: int) -> int:
    """The 64-bit spawn key of replicate ``replicate`` of the point whose canonical JSON is
    ``content``: the first 8 bytes (big-endian) of sha256 of ``content``, a newline and the
    replicate in decimal."""
    digest = hashlib.sha256(f"{content}\n{replicate}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def content_seed(base_seed: int, content: str, replicate: int) -> int:
    """The 63-bit seed of a run keyed by its content: ``run_seed(base_seed, content_key(...))``."""
    return run_seed(base_seed, content_key(content, replicate))


def make_rng(seed: int) -> np.random.Generator:
    """The generator a run with this seed uses for everything it draws."""
    return np.random.default_rng(np.random.SeedSequence(seed))


def scenario_rng(seed: int, scenario: str) -> np.random.Generator:
    """A generator for one research scenario's draws, independent of the run's main stream.

    It is the run seed's child under a spawn key derived from the scenario's name (CRC-32, stable
    across processes and versions), so switching a scenario on draws nothing from the main stream
    and leaves every other result of the run as it was, and two scenarios never share draws.
    """
    key = zlib.crc32(scenario.encode())
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))
