"""Where and how often metrics are pushed, free of prometheus_client.

The commands and the worker read these before they know whether metrics are on at all, so they
live apart from the modules that need the ``metrics`` extra (``sweep_controller.extras``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sweep_controller.env import PUSHGATEWAY_ENV

__all__ = [
    "DEFAULT_CLEANUP_BUDGET_SECONDS",
    "DEFAULT_DELETE_CONCURRENCY",
    "DEFAULT_PUSH_INTERVAL_SECONDS",
    "DEFAULT_PUSH_TIMEOUT_SECONDS",
    "resolve_pushgateway_url",
]

DEFAULT_PUSH_TIMEOUT_SECONDS = 5.0
DEFAULT_PUSH_INTERVAL_SECONDS = 30.0
DEFAULT_CLEANUP_BUDGET_SECONDS = 30.0
DEFAULT_DELETE_CONCURRENCY = 16


def resolve_pushgateway_url(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """The Pushgateway URL from ``--pushgateway`` or else ``PUSHGATEWAY_URL``; None means off."""
    for value in (flag, environ.get(PUSHGATEWAY_ENV)):
        if value is not None and value.strip():
            return value.strip()
    return None
