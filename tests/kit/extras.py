"""A Python that cannot import the optional extras: the core install, as seen by the code.

``without_extras(directory)`` writes a ``sitecustomize.py`` there and returns the environment
that puts it first on ``PYTHONPATH``: every Python started with it (and the process pools it
starts) refuses to import the modules of every extra in ``sweep_controller.extras.EXTRAS``, and
networkx (a test and bench dependency), as if they were not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from sweep_controller.extras import EXTRAS

__all__ = ["BLOCKED", "without_extras"]

BLOCKED = frozenset({module for modules in EXTRAS.values() for module in modules} | {"networkx"})

_SITECUSTOMIZE = '''
import sys

BLOCKED = frozenset({blocked!r})


class _NotInstalled:
    """A meta path finder that answers "not installed" for the blocked top-level modules."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''


def without_extras(directory: Path) -> dict[str, str]:
    """The environment of a Python that cannot import ``BLOCKED``; its sitecustomize goes in
    ``directory``.
    """
    (directory / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(blocked=sorted(BLOCKED)))
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}
