"""The kopf wiring of the controller: which events run a reconcile, and kopf's settings.

``build_registry`` puts the handlers in a registry of their own:

* Sweep create and resume (controller start): reconcile, retried on temporary errors;
* Sweep update of ``spec``: the CRD makes the spec immutable, so this only fires on an API server
  that does not enforce the rule; the change is ignored with a Warning Event;
* Sweep DELETED events: the Pushgateway groups of the sweep are deleted (best effort; no finalizer
  is added, so a controller that is down never blocks ``kubectl delete``);
* Job events, routed to the owning Sweep by the ``govsim.io/sweep`` label: reconcile;
* a timer per Sweep (``RESYNC_SECONDS``): reconcile, which catches missed events and deletes the
  Pushgateway groups once the grace period after the end has passed.

Persistence: kopf keeps its handler progress and diff base in annotations on the Sweep (prefix
``govsim.io``), not in ``status``, because the CRD's structural schema would prune unknown status
fields. Watches set server and client timeouts, so a silently dead watch is re-established.
Scanning of CRDs and namespaces is off (the chart installs the CRD first), so the controller needs
no cluster-wide read access; peering is off (one replica, ``Recreate`` rollout).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from sweep_controller.k8s.api import COMPONENT, CONNECT_TIMEOUT_SECONDS
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.crd import GROUP, PLURAL, VERSION
from sweep_controller.k8s.objects import SWEEP_LABEL

RESYNC_SECONDS = 60.0
WATCH_SERVER_TIMEOUT_SECONDS = 300.0
WATCH_CLIENT_TIMEOUT_SECONDS = 330.0


def operator_settings() -> kopf.OperatorSettings:
    """kopf settings: watch timeouts, annotation persistence, no scanning, no peering."""
    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT_SECONDS
    settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT_SECONDS
    settings.watching.connect_timeout = CONNECT_TIMEOUT_SECONDS
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = COMPONENT
    settings.scanning.disabled = True
    settings.peering.standalone = True
    return settings


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep plain-dict copy of a kopf body (kopf's views are live)."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(body), default=str))
    return plain


def build_registry(controller: Controller, *, login: bool = True) -> kopf.OperatorRegistry:
    """The kopf handlers of the controller, in a registry of their own.

    A registry of its own does not get kopf's default login handlers, so ``login`` adds the one
    that reuses the official client's configuration (in-cluster service account, else
    kubeconfig); tests pass False and add their own.
    """
    registry = kopf.OperatorRegistry()
    sweeps = (GROUP, VERSION, PLURAL)

    if login:
        kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.resume(*sweeps, registry=registry)
    @kopf.on.create(*sweeps, registry=registry)
    def sweep_created(body: kopf.Body, **_: Any) -> None:
        controller.reconcile_resource(_plain(body))

    @kopf.on.update(*sweeps, field="spec", registry=registry)
    def sweep_spec_changed(body: kopf.Body, **_: Any) -> None:
        controller.spec_changed(_plain(body))

    @kopf.on.event(*sweeps, registry=registry)
    def sweep_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            controller.reconcile_resource(_plain(body), deleted=True)

    @kopf.on.event("batch", "v1", "jobs", labels={SWEEP_LABEL: kopf.PRESENT}, registry=registry)
    def job_event(body: kopf.Body, **_: Any) -> None:
        meta = body.get("metadata") or {}
        sweep = (meta.get("labels") or {}).get(SWEEP_LABEL)
        if sweep and meta.get("namespace"):
            controller.reconcile_named(meta["namespace"], sweep)

    @kopf.timer(*sweeps, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS, registry=registry)
    def resync(body: kopf.Body, **_: Any) -> None:
        controller.reconcile_resource(_plain(body))

    return registry


__all__ = ["RESYNC_SECONDS", "build_registry", "operator_settings"]
