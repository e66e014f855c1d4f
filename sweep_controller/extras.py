"""Optional extras: the features that need a library the core install leaves out.

``pip install govsim`` is the core: the simulator, local sweeps on a ``file://`` store, collect,
report and ``load_results``. Each extra adds the libraries of one feature (docs/install.md):

* ``s3``: ``s3://`` stores (boto3);
* ``k8s``: the cluster commands and the controller (kubernetes, kopf);
* ``metrics``: Prometheus metrics, ``--pushgateway`` and ``--metrics-port`` (prometheus-client);
* ``optuna``: adaptive search with ``method: optuna`` (optuna, which brings SQLAlchemy).

Modules that use these libraries import them only when the feature runs, and the feature calls
:func:`require` first, so a missing extra is one line naming the feature and the ``pip install``
that adds it, never a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib.util

from sweep_controller.errors import MissingExtra

DISTRIBUTION = "govsim"

EXTRAS: dict[str, tuple[str, ...]] = {
    "s3": ("boto3", "botocore"),
    "k8s": ("kubernetes", "kopf"),
    "metrics": ("prometheus_client",),
    "optuna": ("optuna",),
}
"""Each optional extra of pyproject.toml and the top-level modules it makes importable."""

__all__ = ["DISTRIBUTION", "EXTRAS", "installed", "require"]


def installed(extra: str) -> bool:
    """Whether every module of ``extra`` can be imported (without importing it)."""
    for module in EXTRAS[extra]:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except ImportError:
            return False
    return True


def require(feature: str, *extras: str) -> None:
    """Raise :class:`MissingExtra` naming ``feature`` unless every one of ``extras`` is there."""
    missing = [extra for extra in extras if not installed(extra)]
    if not missing:
        return
    names = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
    noun = "extras" if len(missing) > 1 else "extra"
    raise MissingExtra(
        f"{feature} needs the {names} {noun}: pip install '{DISTRIBUTION}[{','.join(missing)}]'"
    )
