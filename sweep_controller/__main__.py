"""``python -m sweep_controller``: the ``sweepctl`` command line."""

from simulator.entry import run_main

run_main("sweepctl", "sweep_controller.commands.main")
