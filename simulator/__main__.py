"""``python -m simulator``: the ``govsim`` command line."""

from simulator.cli import main

raise SystemExit(main())
