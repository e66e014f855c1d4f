"""``python -m sweep_controller``: the ``sweepctl`` command line."""

import sys

from sweep_controller.commands.main import main

sys.exit(main())
