"""``python -m simulator.migrate``: the command line of ``simulator.records.migrate``."""

from simulator.entry import run_main

if __name__ == "__main__":
    run_main("migrate", "simulator.records.migrate")
