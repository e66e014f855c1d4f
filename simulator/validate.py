"""``python -m simulator.validate``: the command line of ``simulator.records.validate``."""

from simulator.entry import run_main

if __name__ == "__main__":
    run_main("validate", "simulator.records.validate")
