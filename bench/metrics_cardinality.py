"""Series a sweep costs Prometheus: every task's group kept (before) vs finished groups folded.

The same driven sweep (``tests/kit/cardinality.py``: real ``WorkerMetrics`` pushes, waves of
``--parallelism`` tasks, start, periodic and final push) goes into a real Pushgateway scraped by a
real Prometheus, twice: once keeping every task's group until the end (how groups were kept
before), once folding finished groups after each wave (what the controller does). Printed per
side: the series Prometheus holds for the sweep while its last wave runs (the most it ever holds),
the series the sweep has had at all in the TSDB head (``count_over_time``, which also counts
series that have gone stale), and the ratio before / after.

Run: ``python -m bench.metrics_cardinality [--tasks 1000] [--parallelism 100]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kit.cardinality import series_while_running  # noqa: E402
from kit.promstack import (  # noqa: E402
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    PrometheusAPI,
    Pushgateway,
    prometheus_binaries,
)

NAMESPACE = "bench"


def measure(
    gateway: Pushgateway, api: PrometheusAPI, sweep: str, *, tasks: int, p: int, fold: bool
) -> tuple[int, int]:
    """(series held while the last wave runs, series the sweep ever had in the head)."""
    held = series_while_running(
        gateway.url, api, NAMESPACE, sweep, tasks=tasks, parallelism=p, fold=fold, timeout=600
    )
    ever = api.query(f'count(count_over_time({{sweep="{sweep}"}}[1h]))')
    return held, int(ever[0].value)


def main() -> int:
    """Measure both sides and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=100)
    args = parser.parse_args()
    found = prometheus_binaries()
    if found[PUSHGATEWAY] is None or found[PROMETHEUS] is None:
        print("metrics_cardinality: skipped: prometheus and prometheus-pushgateway not on PATH")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        gateway = Pushgateway(Path(tmp) / "gw").start()
        prom = Prometheus(Path(tmp) / "prom", pushgateway=gateway.address).start()
        try:
            api = prom.api()
            kw = {"tasks": args.tasks, "p": args.parallelism}
            before = measure(gateway, api, "kept", fold=False, **kw)
            after = measure(gateway, api, "folded", fold=True, **kw)
        finally:
            prom.stop()
            gateway.stop()
    print(f"tasks {args.tasks}, parallelism {args.parallelism}")
    print(
        f"  held while running: before {before[0]}, folded {after[0]}, "
        f"ratio {before[0] / after[0]:.1f}x"
    )
    print(
        f"  ever in the head:   before {before[1]}, folded {after[1]}, "
        f"ratio {before[1] / after[1]:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
