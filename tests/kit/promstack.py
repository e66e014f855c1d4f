"""Real Prometheus and Pushgateway for integration tests, and a small client of Prometheus's API.

Both come from the Debian packages `prometheus` and `prometheus-pushgateway` and run as plain
processes on free loopback ports (never the packages' services on 9090/9091). Prometheus scrapes
every second: the Pushgateway with `honor_labels: true` (so pushed `job`/`index` labels survive),
and, per extra job name, whatever targets a test writes to that job's file_sd file at run time
(Prometheus watches the file, so no restart is needed).
"""

from __future__ import annotations

import json
import math
import selectors
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kit.require import require_or_skip
from kit.servers import ManagedProcess, free_port
from kit.waiting import poll

__all__ = [
    "PROMETHEUS",
    "PROMTOOL",
    "PUSHGATEWAY",
    "Blackhole",
    "PromQLError",
    "Prometheus",
    "PrometheusAPI",
    "Pushgateway",
    "Series",
    "prometheus_binaries",
    "require_prometheus_binaries",
]

PROMETHEUS = "prometheus"
PUSHGATEWAY = "prometheus-pushgateway"
PROMTOOL = "promtool"


def prometheus_binaries() -> dict[str, str | None]:
    """Paths of prometheus, prometheus-pushgateway and promtool (None when missing)."""
    return {name: shutil.which(name) for name in (PROMETHEUS, PUSHGATEWAY, PROMTOOL)}


def require_prometheus_binaries(*names: str) -> dict[str, str]:
    """Paths of the named binaries; skip the test (fail under CI) when one is missing."""
    found = prometheus_binaries()
    missing = [n for n in names if found.get(n) is None]
    if missing:
        require_or_skip(
            f"{', '.join(missing)} not on PATH (apt-get install prometheus prometheus-pushgateway)"
        )
    return {n: str(found[n]) for n in names}


class Pushgateway(ManagedProcess):
    """`prometheus-pushgateway` on a free loopback port, in memory only."""

    name = "pushgateway"

    def __init__(self, workdir: Path, *, binary: str = PUSHGATEWAY) -> None:
        super().__init__(workdir)
        self.binary = binary
        self.port = free_port()

    @property
    def url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """Return 127.0.0.1:PORT (a scrape target)."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """Return the argv; an empty persistence file keeps groups in memory only.

        Debian's binary otherwise loads and saves /var/lib/prometheus/pushgateway.data, which
        would share groups between test sessions and with the machine's own Pushgateway.
        """
        return [
            self.binary,
            f"--web.listen-address={self.address}",
            "--persistence.file=",
            "--log.level=warn",
        ]

    def ready_url(self) -> str:
        """Return the readiness endpoint."""
        return self.url + "/-/ready"

    def ready_status(self, status: int) -> bool:
        """Ready only on 200."""
        return status == 200

    def metrics_text(self) -> str:
        """Return the gateway's /metrics exposition (all groups)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            return str(response.read().decode())

    def groups(self) -> list[dict[str, str]]:
        """Return the grouping labels (job, sweep, index, ...) of every group the gateway holds."""
        with urllib.request.urlopen(self.url + "/api/v1/metrics", timeout=5) as response:
            body = json.load(response)
        return [dict(group["labels"]) for group in body["data"]]

    def wait_for_groups(
        self, predicate: Callable[[list[dict[str, str]]], bool], *, timeout: float = 20.0
    ) -> list[dict[str, str]]:
        """Poll ``groups()`` until ``predicate`` holds; TimeoutError shows the last answer.

        A PUT is stored before the gateway answers, but a DELETE is only queued (202 Accepted)
        and applied a moment later, so a read right after a delete may still see the group.
        """
        return poll(self.groups, predicate, timeout=timeout, what="the Pushgateway's groups")


class Prometheus(ManagedProcess):
    """`prometheus` on a free loopback port scraping every second; file_sd jobs for tests."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        *,
        pushgateway: str | None,
        file_sd_jobs: Sequence[str] = (),
        binary: str = PROMETHEUS,
        scrape_seconds: int = 1,
    ) -> None:
        super().__init__(workdir)
        self.binary = binary
        self.port = free_port()
        self.scrape_seconds = scrape_seconds
        """Scrape interval and timeout (a bench scraping 10^5 series needs more than 1 s)."""
        self.pushgateway = pushgateway
        self.file_sd_jobs = tuple(file_sd_jobs)
        self.config_path = self.workdir / "prometheus.yml"
        for job in self.file_sd_jobs:
            self.set_targets(job, [])
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    @property
    def url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, object]:
        """Return the configuration: 1 s scrapes (by default), the Pushgateway with honor_labels,
        file_sd."""
        scrape_configs: list[dict[str, object]] = []
        if self.pushgateway is not None:
            scrape_configs.append(
                {
                    "job_name": "pushgateway",
                    "honor_labels": True,
                    "static_configs": [{"targets": [self.pushgateway]}],
                }
            )
        for job in self.file_sd_jobs:
            scrape_configs.append(
                {
                    "job_name": job,
                    "file_sd_configs": [
                        {"files": [str(self._targets_path(job))], "refresh_interval": "1s"}
                    ],
                }
            )
        every = f"{self.scrape_seconds}s"
        return {
            "global": {
                "scrape_interval": every,
                "scrape_timeout": every,
                "evaluation_interval": "1s",
            },
            "scrape_configs": scrape_configs,
        }

    def _targets_path(self, job: str) -> Path:
        return self.workdir / f"targets-{job}.json"

    def set_targets(self, job: str, targets: Iterable[str]) -> None:
        """Replace the scrape targets (host:port) of a file_sd job; Prometheus picks them up."""
        if job not in self.file_sd_jobs:
            raise ValueError(f"job {job!r} is not one of {self.file_sd_jobs}")
        path = self._targets_path(job)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": list(targets)}]))
        tmp.replace(path)

    def command(self) -> list[str]:
        """Return the argv (private TSDB under the work directory)."""
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def ready_url(self) -> str:
        """Return the readiness endpoint."""
        return self.url + "/-/ready"

    def ready_status(self, status: int) -> bool:
        """Ready only on 200."""
        return status == 200

    def api(self) -> PrometheusAPI:
        """Return a client of this server's HTTP API."""
        return PrometheusAPI(self.url)


class PromQLError(RuntimeError):
    """Prometheus rejected a query (bad syntax or evaluation error)."""


@dataclass(frozen=True)
class Series:
    """One series of an instant query's answer: its labels and its value."""

    labels: dict[str, str] = field(hash=False)
    value: float


@dataclass(frozen=True)
class PrometheusAPI:
    """Instant queries against Prometheus's HTTP API, and polling until an answer satisfies."""

    base_url: str
    timeout: float = 10.0

    def query(self, expr: str) -> list[Series]:
        """Evaluate ``expr`` now; vectors give one Series each, a scalar gives one unlabelled."""
        url = self.base_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
            raise PromQLError(f"{body.get('error')} in query: {expr}") from exc
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('error')} in query: {expr}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [
                Series(labels=dict(item["metric"]), value=float(item["value"][1]))
                for item in data["result"]
            ]
        if data["resultType"] == "scalar":
            return [Series(labels={}, value=float(data["result"][1]))]
        raise PromQLError(f"unexpected result type {data['resultType']} for query: {expr}")

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[Series]], bool] = bool,
        *,
        timeout: float = 20.0,
    ) -> list[Series]:
        """Poll ``expr`` until ``predicate(answer)`` holds; TimeoutError shows the last answer."""
        return poll(lambda: self.query(expr), predicate, timeout=timeout, interval=0.1, what=expr)

    def head_series(self) -> int:
        """Series in the TSDB head block (``/api/v1/status/tsdb``, ``headStats.numSeries``).

        The head keeps every series scraped in its last 2 to 3 hours, stale ones included, until
        head compaction: the memory a burst of short-lived series costs.
        """
        with urllib.request.urlopen(
            self.base_url + "/api/v1/status/tsdb", timeout=self.timeout
        ) as r:
            return int(json.load(r)["data"]["headStats"]["numSeries"])

    def wait_for_value(self, expr: str, expected: float, *, timeout: float = 20.0) -> None:
        """Poll until ``expr`` returns exactly one series whose value is ``expected``."""
        self.wait_for(
            expr,
            lambda answer: len(answer) == 1 and math.isclose(answer[0].value, expected),
            timeout=timeout,
        )


class Blackhole:
    """A loopback TCP port that accepts every connection, reads requests and never answers.

    It stands in for a Pushgateway behind a black hole (a dead node, a dropped route): a client
    waits until its own timeout. Counts what it saw: connections accepted, and the most that were
    open at the same time (how many requests a client had in flight at once).
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self.max_open = 0
        self._open: set[socket.socket] = set()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._loop, name="blackhole", daemon=True)

    @property
    def url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    try:
                        conn, _ = self._listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    self._selector.register(conn, selectors.EVENT_READ)
                    self._open.add(conn)
                    self.accepted += 1
                    self.max_open = max(self.max_open, len(self._open))
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the client gave up and closed
                    self._selector.unregister(sock)
                    self._open.discard(sock)
                    sock.close()

    def start(self) -> Blackhole:
        """Start accepting."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and close every connection."""
        self._stop.set()
        self._thread.join()
        for sock in (*self._open, self._listener):
            sock.close()
        self._selector.close()

    def __enter__(self) -> Blackhole:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
