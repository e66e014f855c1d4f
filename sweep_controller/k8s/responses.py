"""What the Kubernetes API says in an error response (a ``Status`` object), read without a client.

The controller's API seam (``sweep_controller.k8s.api``) and sweepctl's cluster client
(``sweep_controller.k8s.cluster``) both show the API server's own message, which names the field
or the rule that refused a request; this is the one place that reads it.
"""

from __future__ import annotations

import json


def server_message(body: str | bytes | None) -> str | None:
    """The ``message`` of an error response body, or None when there is none to read."""
    try:
        data = json.loads(body or "{}")
    except (TypeError, ValueError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return str(message) if message else None


__all__ = ["server_message"]
