"""``python -m simulator.validate``: the command line of ``simulator.records.validate``."""

import sys

from simulator.records.validate import main

if __name__ == "__main__":
    sys.exit(main())
