"""``python -m simulator.migrate``: the command line of ``simulator.records.migrate``."""

import sys

from simulator.records.migrate import main

if __name__ == "__main__":
    sys.exit(main())
