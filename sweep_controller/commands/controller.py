"""``sweepctl controller``: run the Kubernetes controller that turns Sweeps into Indexed Jobs.

Cluster settings come from ``GOVSIM_*`` variables (``ControllerConfig.ENV``; the Helm chart sets
them). The controller watches one or more namespaces, or all of them, serves Prometheus metrics on
``--metrics-port`` (at ``--metrics-address``, loopback unless told otherwise: the Helm chart's pod
listens on ``0.0.0.0``) and a liveness endpoint on ``--health-port`` (``/healthz``), and logs to
stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sweep_controller.commands.arguments import add_metrics_address
from sweep_controller.errors import SpecError, SweepError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.extras import require
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.crd import SCHEMA_VERSION, installed_schema_version

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_METRICS_PORT = 9090
DEFAULT_HEALTH_PORT = 8080

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from sweep_controller.k8s.api import KubeApi

log = logging.getLogger(__name__)


class ControllerStartError(SweepError):
    """The controller cannot start: no cluster credentials, or the Sweep CRD cannot be read."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``controller`` subcommand."""
    parser = subparsers.add_parser(
        "controller",
        help="run the Kubernetes controller (Sweep custom resources -> Indexed Jobs)",
        description="Run the controller: for each Sweep, create its ConfigMap and Indexed Job "
        "and report progress in the Sweep's status. Settings: GOVSIM_* environment variables.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        metavar="NS",
        help="watch this namespace (repeatable; default: the controller's own namespace)",
    )
    scope.add_argument("--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_METRICS_PORT,
        metavar="P",
        help=f"serve /metrics on this port (default {DEFAULT_METRICS_PORT}; 0 disables)",
    )
    add_metrics_address(parser)
    parser.add_argument(
        "--health-port",
        type=int,
        default=DEFAULT_HEALTH_PORT,
        metavar="P",
        help=f"serve the liveness endpoint /healthz on this port (default {DEFAULT_HEALTH_PORT})",
    )
    parser.set_defaults(handler=run)


def watched_namespaces(args: argparse.Namespace) -> list[str]:
    """The namespaces to watch: the flags, else the namespace the pod runs in."""
    if args.namespace:
        return list(args.namespace)
    try:
        own = SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
    except OSError:
        own = ""
    if not own:
        raise SpecError(
            "--namespace: not given and not running in a pod; pass --namespace NS or "
            "--all-namespaces"
        )
    return [own]


def _api_client() -> ApiClient:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        config.load_incluster_config()
    except ConfigException:
        try:
            config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise ControllerStartError(
                f"no cluster credentials: not in a pod and no usable kubeconfig ({exc})"
            ) from None
    return client.ApiClient()


def check_crd(api: KubeApi) -> int:
    """The installed CRD's schema version; raises one line if it is missing, older or unreadable."""
    import kopf

    try:
        crd = api.read_crd()
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        raise ControllerStartError(str(exc)) from None
    found = installed_schema_version(crd)
    if found > SCHEMA_VERSION:
        log.info(
            "CRD schema version %d is newer than this controller's %d; continuing",
            found,
            SCHEMA_VERSION,
        )
    return found


def run(args: argparse.Namespace) -> int:
    """Run the controller until it is stopped."""
    require("sweepctl controller", "k8s", "s3", "metrics")
    import kopf
    from prometheus_client import CollectorRegistry

    from sweep_controller.k8s.api import KubeApi
    from sweep_controller.k8s.controller import Controller
    from sweep_controller.k8s.operator import build_registry, operator_settings
    from sweep_controller.k8s.status import Phase
    from sweep_controller.metrics import ControllerMetrics, serve_metrics

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ControllerConfig.from_env(os.environ)
    namespaces = [] if args.all_namespaces else watched_namespaces(args)
    api = KubeApi(_api_client())
    check_crd(api)
    metrics = ControllerMetrics(CollectorRegistry(), phases=[p.value for p in Phase])
    server = (
        serve_metrics(metrics.registry, args.metrics_port, addr=args.metrics_address)
        if args.metrics_port
        else None
    )
    controller = Controller(api, config, metrics=metrics)
    try:
        kopf.run(
            registry=build_registry(controller, namespaces=namespaces),
            settings=operator_settings(),
            standalone=True,
            clusterwide=args.all_namespaces,
            namespaces=namespaces,
            liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz",
        )
    finally:
        if server is not None:
            server.close()
    return ExitCode.OK
