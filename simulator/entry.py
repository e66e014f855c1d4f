"""Running a command's ``main``: its exit code, and Ctrl-C as exit 130 with one line.

Every command line of the project (``govsim``, ``python -m simulator.validate`` and ``migrate``,
``sweepctl``) starts here, so a Ctrl-C at any moment, even while the command's modules are still
being imported, ends it the same way: ``PROG: interrupted`` on stderr and exit status 130
(128 + SIGINT, what a shell reports), never a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

__all__ = ["INTERRUPTED", "run_main"]

INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (SIGINT)."""


def run_main(prog: str, module: str) -> NoReturn:
    """Import ``module``, call its ``main()`` and exit with its status (130 on Ctrl-C)."""
    try:
        code = importlib.import_module(module).main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        code = INTERRUPTED
    sys.exit(code)
