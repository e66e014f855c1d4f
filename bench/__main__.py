"""``python -m bench``: run every benchmark module in bench/, each in its own interpreter.

A fresh process per module keeps one benchmark's memory and warm caches out of another's numbers
(the engine bench reads its child's peak RSS). ``python -m bench NAME...`` runs only those modules.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path


def modules() -> list[str]:
    """Names of the benchmark modules (every module of the package but this one)."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    """Run the named (default: all) benchmark modules; non-zero if any failed."""
    names = (sys.argv[1:] if argv is None else argv) or modules()
    unknown = sorted(set(names) - set(modules()))
    if unknown:
        print(f"bench: error: unknown benchmark {', '.join(unknown)}; have {', '.join(modules())}")
        return 2
    failed = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode:
            failed.append(name)
    if failed:
        print(f"bench: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
