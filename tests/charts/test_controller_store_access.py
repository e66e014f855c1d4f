"""The controller reaches the same store as its workers, from the same chart values.

For adaptive sweeps (``method: optuna``) the controller reads and writes the sweep's store between
rounds. It opens the store with ``store_opener`` (endpoint, region and addressing from its
``GOVSIM_S3_*`` variables) and the AWS credentials of its own environment; a worker opens it with
``open_store`` from the environment the controller gives its pods (``AWS_ENDPOINT_URL_S3``,
``AWS_REGION``, ``GOVSIM_S3_ADDRESSING``, the keys of ``s3.credentialsSecret``). For every value
set: render the chart, build round 0's Job from the controller's rendered environment, open both
stores offline, and compare what decides where the requests go and as whom.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kit.charts import NAMESPACE, VALUE_SET_NAMES, chart, find, manifests, pod_spec, value_sets
from kit.paths import REPO

from sweep_controller.env import ADDRESSING_ENV
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import store_opener
from sweep_controller.k8s.objects import build_job, resolve_output_uri, with_namespace
from sweep_controller.spec.loading import load_sweep
from sweep_controller.store import S3Store, open_store

ADAPTIVE = REPO / "examples" / "quorum-boundary.yaml"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _where(store: S3Store) -> tuple[str, str, str, str]:
    """What decides where a store's requests go: URI, endpoint, region, addressing style."""
    meta = store.client.meta
    return store.uri, meta.endpoint_url, meta.region_name, meta.config.s3["addressing_style"]


def _only(monkeypatch: pytest.MonkeyPatch, home: Path, env: dict[str, str]) -> None:
    """Make ``env`` the whole AWS side of the process environment (no machine config)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == ADDRESSING_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "absent-credentials"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_the_controller_opens_the_store_its_workers_write(
    value_set: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Same bucket, prefix, endpoint, region and addressing, and the same credentials source."""
    (container,) = pod_spec(find(manifests(value_set), "Deployment"))["containers"]
    controller = _env(container)
    config = ControllerConfig.from_env(
        {n: e["value"] for n, e in controller.items() if "value" in e}
    )
    sweep = with_namespace(load_sweep(ADAPTIVE), NAMESPACE)
    (worker_container,) = pod_spec(build_job(sweep, config, round_index=0))["containers"]
    worker = _env(worker_container)
    uri = resolve_output_uri(sweep, config)

    _only(monkeypatch, tmp_path, {})
    controller_store = store_opener(config)(uri)
    _only(monkeypatch, tmp_path, {
        name: e["value"]
        for name, e in worker.items()
        if "value" in e and (name.startswith("AWS_") or name == ADDRESSING_ENV)
    })  # fmt: skip
    worker_store = open_store(uri)
    assert isinstance(controller_store, S3Store) and isinstance(worker_store, S3Store)
    assert _where(controller_store) == _where(worker_store)

    # Credentials: the same Secret keys as the workers, or none (IRSA) for both.
    assert {k: controller.get(k) for k in CREDENTIALS} == {k: worker.get(k) for k in CREDENTIALS}
    secret = chart().merge_values(value_sets()[value_set])["s3"]["credentialsSecret"]
    if secret:
        for key in CREDENTIALS:
            ref = controller[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret, "key": key}
    else:
        assert not set(CREDENTIALS) & set(controller)


def test_on_kind_the_controller_gets_the_keys_of_the_seaweedfs_secret() -> None:
    """The end-to-end values name the Secret; the controller reads both of its keys."""
    (container,) = pod_spec(find(manifests("kind"), "Deployment"))["containers"]
    controller = _env(container)
    assert {controller[k]["valueFrom"]["secretKeyRef"]["name"] for k in CREDENTIALS} == {
        "govsim-s3"
    }


def test_on_eks_the_controller_is_its_irsa_role() -> None:
    """No keys in the controller's environment; its service account carries its role."""
    docs = manifests("eks")
    (container,) = pod_spec(find(docs, "Deployment"))["containers"]
    assert not set(CREDENTIALS) & set(_env(container))
    account = find(docs, "ServiceAccount", "govsim-controller")
    role = value_sets()["eks"]["serviceAccounts"]["controller"]["roleArn"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
