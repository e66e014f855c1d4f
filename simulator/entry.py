"""Running a command's ``main``: its exit code, and Ctrl-C as exit 130 with one line.

Every command line of the project (``govsim``, ``python -m simulator.validate`` and ``migrate``,
``sweepctl``) starts here, so a Ctrl-C at any moment, even while the command's modules are still
being imported, ends it the same way: ``PROG: interrupted`` on stderr and exit status 130
(128 + SIGINT, what a shell reports), never a ``KeyboardInterrupt`` traceback.

The ``KeyboardInterrupt`` that Python raises on SIGINT can arrive wrapped: a library that calls
back into Python (pydantic's serializer, for one) turns an exception raised in the callback into
its own error. So the SIGINT handler also notes that Ctrl-C was pressed, and any exception that
ends the command after that note counts as the interruption.
"""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType
from typing import NoReturn

__all__ = ["INTERRUPTED", "run_main", "was_interrupted"]

INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (SIGINT)."""

_interrupted = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Note the Ctrl-C, then interrupt as Python's default handler does."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def was_interrupted() -> bool:
    """Whether Ctrl-C was pressed since ``run_main`` started (for a command's own handling)."""
    return _interrupted


def run_main(prog: str, module: str) -> NoReturn:
    """Import ``module``, call its ``main()`` and exit with its status (130 on Ctrl-C)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = importlib.import_module(module).main()
    except KeyboardInterrupt:
        code = _interrupt(prog)
    except Exception:
        if not _interrupted:
            raise
        code = _interrupt(prog)  # a Ctrl-C that a library wrapped in its own error
    sys.exit(code)


def _interrupt(prog: str) -> int:
    print(f"{prog}: interrupted", file=sys.stderr)
    return INTERRUPTED
