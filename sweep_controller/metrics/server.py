"""Serving a registry on ``/metrics`` for Prometheus to scrape, and stopping cleanly.

The controller and ``sweepctl run`` live long enough to be scraped. Each serves its own injected
registry (never the global default one, so no process metrics leak in) from a daemon thread, and
releases the port when closed, so tests and the runner can start and stop servers at will.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import start_http_server

__all__ = ["LOOPBACK", "MetricsServer", "serve_metrics"]


@dataclass(frozen=True)
class MetricsServer:
    """A running ``/metrics`` endpoint; ``port`` is the bound port (useful with port 0)."""

    port: int
    _server: Any
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


LOOPBACK = "127.0.0.1"
"""The default address: reachable from this machine only. A pod listens on ``0.0.0.0``."""


def serve_metrics(registry: CollectorRegistry, port: int, *, addr: str = LOOPBACK) -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(port=int(server.server_port), _server=server, _thread=thread)
