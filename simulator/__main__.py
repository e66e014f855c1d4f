"""``python -m simulator``: the ``govsim`` command line."""

from simulator.entry import run_main

run_main("govsim", "simulator.cli")
