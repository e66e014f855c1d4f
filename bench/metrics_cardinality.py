"""Series a sweep costs Prometheus: pushed by task index (before) vs by metric slot (now).

The same driven sweep (``tests/kit/cardinality.py``: real ``WorkerMetrics``, waves of
``--parallelism`` tasks, each pushing once it holds its task, once while it runs and once at its
end) goes into a real Pushgateway scraped by a real Prometheus (every ``--scrape-seconds``),
twice: pushed by task index, one group per task kept until the end (how workers pushed before),
and pushed by metric slot through ``SlotReporter``, its slots claimed in a file store (what
workers do now). Printed per task count and side: the series Prometheus holds for the sweep
while its last wave runs (``live``), the series its TSDB head gained while the sweep was driven
(``head``, from ``headStats.numSeries``), and the ratio index / slot.

Pushed by index, 1,000 tasks make about 127,000 series, whose scrape takes over a second on a
small machine (hence 10 s scrapes here), and 10^4 tasks about 1.3 M, more than one Pushgateway
serves in a scrape. So the index side is measured up to ``--index-max-tasks`` and, above that,
extrapolated from the per-task cost measured at the largest size (it is linear: one group per
task); the output says which numbers are extrapolated.

Run: ``python -m bench.metrics_cardinality [--tasks 1000 10000] [--parallelism 100]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kit.cardinality import SeriesCount, delete_index_groups, measure_sweep  # noqa: E402
from kit.promstack import (  # noqa: E402
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    PrometheusAPI,
    Pushgateway,
    prometheus_binaries,
)

from sweep_controller.store import FileStore  # noqa: E402

NAMESPACE = "bench"


def measure(
    gateway: Pushgateway,
    api: PrometheusAPI,
    sweep: str,
    *,
    tasks: int,
    p: int,
    store_dir: Path | None,
) -> SeriesCount:
    """One driven sweep: by slot in a file store under ``store_dir``, or by index when None."""
    store = FileStore(store_dir / sweep) if store_dir is not None else None
    count = measure_sweep(
        gateway.url, api, NAMESPACE, sweep, tasks=tasks, parallelism=p, store=store, timeout=900
    )
    how = "slot " if store is not None else "index"
    print(
        f"    by {how}: live {count.live:>9,}  head +{count.head_added:>9,}  "
        f"(the sweep's: {count.head_sweep:,}; driven in {count.seconds:.0f} s)",
        flush=True,
    )
    return count


def main() -> int:
    """Measure both sides for each task count and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--parallelism", type=int, default=100)
    parser.add_argument("--index-max-tasks", type=int, default=1000)
    parser.add_argument("--scrape-seconds", type=int, default=10)
    args = parser.parse_args()
    found = prometheus_binaries()
    if found[PUSHGATEWAY] is None or found[PROMETHEUS] is None:
        print("metrics_cardinality: skipped: prometheus and prometheus-pushgateway not on PATH")
        return 0
    # The slot claims' store: memory-backed where there is one (fsyncs are not what is measured).
    scratch = "/dev/shm" if os.path.isdir("/dev/shm") else None
    p = args.parallelism
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=scratch) as stores:
        gateway = Pushgateway(Path(tmp) / "gw").start()
        prom = Prometheus(
            Path(tmp) / "prom", pushgateway=gateway.address, scrape_seconds=args.scrape_seconds
        ).start()
        try:
            api = prom.api()
            measure(gateway, api, "warm-up", tasks=4, p=2, store_dir=Path(stores))
            per_task: tuple[float, float] | None = None
            for tasks in args.tasks:
                print(f"tasks {tasks:,}, parallelism {p}:", flush=True)
                slot = measure(gateway, api, f"slot-{tasks}", tasks=tasks, p=p,
                               store_dir=Path(stores))  # fmt: skip
                if tasks <= args.index_max_tasks:
                    index = measure(
                        gateway, api, f"index-{tasks}", tasks=tasks, p=p, store_dir=None
                    )
                    live, head = index.live, index.head_added
                    delete_index_groups(gateway.url, NAMESPACE, f"index-{tasks}", tasks)
                    per_task = (live / tasks, head / tasks)
                    note = ""
                elif per_task is not None:
                    live, head = round(per_task[0] * tasks), round(per_task[1] * tasks)
                    note = " (index side extrapolated)"
                    print(f"    by index: live {live:>9,}  head +{head:>9,}  (extrapolated)")
                else:
                    print("    by index: not measured (raise --index-max-tasks)")
                    continue
                print(
                    f"    ratio index / slot: live {live / slot.live:.1f}x, "
                    f"head {head / slot.head_added:.1f}x{note}",
                    flush=True,
                )
        finally:
            prom.stop()
            gateway.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
