"""Sweeps on Kubernetes: the CRD, status, object builders, the pure reconcile and the operator.

Modules: ``crd`` (the generated CustomResourceDefinition), ``status`` (the Sweep's status model),
``config`` (what the cluster decides, from ``GOVSIM_*`` variables), ``objects`` (ConfigMap and Job
builders), ``reconcile`` (the pure decision), ``api`` (the seam to the API server),
``controller`` (observe, decide, carry out), ``operator`` (the kopf wiring) and ``cluster``
(``sweepctl``'s client: the kubeconfig, Sweeps and their worker pods). Importing this
package loads nothing: the names below are imported on first use, so
``python -m sweep_controller.k8s.crd`` and the pure modules never pull in a client library.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_crd": "crd",
    "ControllerConfig": "config",
    "build_job": "objects",
    "Action": "reconcile",
    "Observed": "reconcile",
    "Phase": "status",
    "SweepStatus": "status",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
