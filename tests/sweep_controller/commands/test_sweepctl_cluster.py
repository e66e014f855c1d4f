"""``sweepctl submit, list, watch, logs, delete`` against a fake API server (kmock).

kmock serves the Kubernetes API in memory over HTTP; the commands reach it through a kubeconfig
written per test (two contexts with different namespaces, as ``kubectl`` reads them) and the
official client. The fake has no controller: a test plays it by patching the Sweep's status over
HTTP while ``sweepctl watch`` runs. Each command runs through ``main(argv)`` in a thread while the
fake serves on the test's event loop; an error must be one stderr line and an exit code, never
a traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.kube import NAMESPACE, declare, example, requests, resource
from kit.waiting import until
from kubernetes import client as k8s

from sweep_controller.commands.main import main

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NAME = "whale-vs-conformity"
OTHER = "elsewhere"
SWEEPS = "govsim.io/v1alpha1/sweeps"
PODS = "v1/pods"


def write_kubeconfig(path: Path, server: str, *, dead: str = "http://127.0.0.1:9") -> Path:
    """Contexts ``lab`` (namespace research, current), ``other`` (elsewhere), ``dead``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": server}},
            {"name": "gone", "cluster": {"server": dead}},
        ],
        "users": [{"name": "me", "user": {"token": "secret-token"}}],
        "contexts": [
            {"name": "lab", "context": {"cluster": "fake", "user": "me", "namespace": NAMESPACE}},
            {"name": "other", "context": {"cluster": "fake", "user": "me", "namespace": OTHER}},
            {"name": "dead", "context": {"cluster": "gone", "user": "me"}},
        ],
        "current-context": "lab",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cluster(kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake API server with Sweeps and pods, and a kubeconfig for it; no other config."""
    declare(kmock)
    kmock.resources[PODS] = kmock.ResourceInfo(
        kind="Pod", singular="pod", namespaced=True, verbs=["get", "list"], subresources=["log"]
    )
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    dead = f"http://127.0.0.1:{free_port()}"
    return write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"), dead=dead)


async def sweepctl(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Run ``sweepctl`` in a thread; the exit code, stdout and stderr."""
    code = await asyncio.to_thread(main, [str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


SIZE_WARNING = "sweepctl: warning: spec.runsPerTask: 10 runs of ~"


def size_warning_only(err: str) -> bool:
    """Whether ``err`` is the example's one task-size warning (its tasks are far too small)."""
    (line,) = err.splitlines()
    return line.startswith(SIZE_WARNING) and "set runsPerTask to 80 (one task)" in line


def one_line(err: str) -> str:
    """The single stderr line of a refusal (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def spec_file(tmp_path: Path, **changes: Any) -> Path:
    document = example()
    document["spec"].update(changes.pop("spec", {}))
    document["metadata"].update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def stored(kmock: Any, namespace: str, name: str = NAME) -> dict[str, Any] | None:
    for (res, ns, obj_name), obj in kmock.objects.items():
        if f"{res.group}/{res.version}/{res.plural}" == SWEEPS and (ns, obj_name) == (
            namespace,
            name,
        ):
            return None if obj.deleted else dict(obj.raw)
    return None


def put_sweep(kmock: Any, namespace: str = NAMESPACE, **kwargs: Any) -> dict[str, Any]:
    body = resource(**kwargs)
    body["metadata"]["namespace"] = namespace
    kmock.objects[SWEEPS, namespace, body["metadata"]["name"]] = body
    return body


def custom_api(kmock: Any) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(k8s.ApiClient(k8s.Configuration(host=str(kmock.url).rstrip("/"))))


# --- submit -------------------------------------------------------------------------------------


async def test_submit_creates_the_sweep_in_the_context_namespace(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path)
    code, out, err = await sweepctl(capsys, "submit", spec, "--kubeconfig", cluster)
    assert code == 0 and size_warning_only(err), err
    (post,) = requests(kmock, "POST", f"/apis/govsim.io/v1alpha1/namespaces/{NAMESPACE}/sweeps")
    sent = json.loads(post.body)
    assert sent["metadata"] == {"name": NAME, "namespace": NAMESPACE}
    assert sent["spec"] == example()["spec"]
    assert post.headers["Authorization"] == "Bearer secret-token"
    assert stored(kmock, NAMESPACE) is not None
    assert f"sweep {NAMESPACE}/{NAME} created: 8 tasks, 80 runs (context lab)" in out
    assert f"sweepctl watch {NAME} -n {NAMESPACE}" in out
    assert f"kubectl get sweeps -n {NAMESPACE}" in out


async def test_submit_sends_swept_parameters_in_full_form(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = example()["spec"]["parameters"]
    spec = spec_file(
        tmp_path, spec={"parameters": {n: p.get("values", p) for n, p in full.items()}}
    )
    assert any(
        isinstance(p, list) for p in yaml.safe_load(spec.read_text())["spec"]["parameters"].values()
    )
    code, _, err = await sweepctl(capsys, "submit", spec, "--kubeconfig", cluster)
    assert code == 0 and size_warning_only(err), err
    (post,) = requests(kmock, "POST", f"/apis/govsim.io/v1alpha1/namespaces/{NAMESPACE}/sweeps")
    assert json.loads(post.body)["spec"] == example()["spec"]


async def test_submit_honours_context_then_spec_namespace_then_flag(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path)
    code, _, _ = await sweepctl(
        capsys, "submit", spec, "--kubeconfig", cluster, "--context", "other"
    )
    assert code == 0 and stored(kmock, OTHER) is not None and stored(kmock, NAMESPACE) is None

    in_spec = spec_file(tmp_path, name="in-spec", namespace="team-a")
    code, out, _ = await sweepctl(capsys, "submit", in_spec, "--kubeconfig", cluster)
    assert code == 0 and stored(kmock, "team-a", "in-spec") is not None, out

    flagged = spec_file(tmp_path, name="flagged")
    code, _, _ = await sweepctl(capsys, "submit", flagged, "--kubeconfig", cluster, "-n", "team-b")
    assert code == 0 and stored(kmock, "team-b", "flagged") is not None


async def test_submit_refuses_a_namespace_flag_that_contradicts_the_spec(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path, namespace="team-a")
    code, _, err = await sweepctl(capsys, "submit", spec, "--kubeconfig", cluster, "-n", "team-b")
    assert code == 2
    assert re.search(
        r"--namespace: 'team-b' differs from metadata.namespace 'team-a'", one_line(err)
    )
    assert requests(kmock, "POST", ".*/sweeps") == []


async def test_submit_of_an_invalid_spec_names_the_field_and_sends_nothing(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path, spec={"replicates": 0})
    code, _, err = await sweepctl(capsys, "submit", spec, "--kubeconfig", cluster)
    assert code == 2
    assert re.search(r"sweep\.yaml: spec\.replicates: ", one_line(err))
    assert list(kmock) == []


async def test_submit_twice_is_fine_and_a_changed_spec_is_refused(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path)
    assert (await sweepctl(capsys, "submit", spec, "--kubeconfig", cluster))[0] == 0
    code, out, err = await sweepctl(capsys, "submit", spec, "--kubeconfig", cluster)
    assert (code, err) == (0, "")
    assert f"sweep {NAMESPACE}/{NAME} exists with the same spec: nothing to do" in out

    changed = spec_file(tmp_path, spec={"seed": 99})
    code, _, err = await sweepctl(capsys, "submit", changed, "--kubeconfig", cluster)
    assert code == 1
    assert one_line(err) == (
        f"sweepctl: error: Sweep '{NAME}' exists in namespace {NAMESPACE} with a different "
        f"spec; the spec is immutable: delete it first (sweepctl delete {NAME} -n {NAMESPACE})"
    )
    assert stored(kmock, NAMESPACE)["spec"]["seed"] == example()["spec"]["seed"]  # type: ignore[index]


async def test_submit_rejected_by_the_api_server_is_one_line(
    kmock: Any, cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = 'Sweep.govsim.io "whale-vs-conformity" is invalid: spec.replicates: Invalid value'
    reply = {"kind": "Status", "code": 422, "message": message}
    kmock["post", re.compile(r"/apis/govsim\.io/v1alpha1/namespaces/.*/sweeps")] << 422 << reply
    code, out, err = await sweepctl(capsys, "submit", spec_file(tmp_path), "--kubeconfig", cluster)
    assert (code, out) == (1, "")
    assert one_line(err) == (f"sweepctl: error: create Sweep {NAMESPACE}/{NAME}: 422: {message}")


# --- list ---------------------------------------------------------------------------------------


async def test_list_shows_the_crd_columns(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = {"phase": "Running", "tasksTotal": 8, "tasksDone": 3, "tasksFailed": 1}
    put_sweep(kmock, status=running)
    other = put_sweep(kmock, OTHER)
    code, out, _ = await sweepctl(capsys, "list", "--kubeconfig", cluster)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "PHASE", "DONE", "FAILED", "TOTAL", "AGE"]
    assert len(rows) == 1 and rows[0].split()[:5] == [NAME, "Running", "3", "1", "8"]
    assert re.fullmatch(r"\d+d", rows[0].split()[5])  # created 2025-01-01

    code, out, _ = await sweepctl(capsys, "list", "-A", "--kubeconfig", cluster)
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert [r.split()[0] for r in rows] == sorted([NAMESPACE, OTHER])

    code, out, _ = await sweepctl(
        capsys, "list", "-o", "json", "--context", "other", "--kubeconfig", cluster
    )
    document = json.loads(out)
    assert document["kind"] == "List" and document["items"] == [other]

    code, out, _ = await sweepctl(capsys, "list", "-o", "yaml", "--kubeconfig", cluster)
    assert yaml.safe_load(out)["items"][0]["status"] == running


async def test_list_of_an_empty_namespace_says_so(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await sweepctl(capsys, "list", "--kubeconfig", cluster, "-n", "empty")
    assert (code, out) == (0, "")
    assert one_line(err) == "No Sweeps found in namespace empty."


# --- watch --------------------------------------------------------------------------------------


async def watch_opened(kmock: Any) -> None:
    """Until the watch stream listens to the fake's event bus (events before that are lost)."""

    def listening() -> bool:
        return any(bus.consumer_count for bus in kmock._buses.values())

    await until(listening, "the watch stream")


async def patch_status(kmock: Any, status: dict[str, Any]) -> None:
    api = custom_api(kmock)
    await asyncio.to_thread(
        api.patch_namespaced_custom_object_status,
        "govsim.io", "v1alpha1", NAMESPACE, "sweeps", NAME, {"status": status},
    )  # fmt: skip


async def test_watch_follows_the_status_to_success(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_sweep(kmock, status={"phase": "Pending", "tasksTotal": 8})
    run = asyncio.create_task(
        sweepctl(capsys, "watch", NAME, "--kubeconfig", cluster, "--timeout", "30")
    )
    await watch_opened(kmock)
    await patch_status(kmock, {"phase": "Running", "tasksDone": 3})
    done = {
        "phase": "Succeeded",
        "tasksDone": 8,
        "tasksFailed": 0,
        "message": "all 8 tasks succeeded",
        "resultsUri": "s3://govsim-results/sweeps/whale-vs-conformity/",
    }
    await patch_status(kmock, done)
    code, out, err = await run
    assert code == 0, err
    assert out.splitlines() == [
        f"sweep {NAMESPACE}/{NAME}: Succeeded: 8/8 tasks done, 0 failed",
        "message: all 8 tasks succeeded",
        "results: s3://govsim-results/sweeps/whale-vs-conformity/",
    ]
    assert "8/8" in err and "Succeeded" in err  # the progress bar's last state
    (watch,) = [r for r in list(kmock) if r.params.get("watch") == "true"]
    assert watch.params["fieldSelector"] == f"metadata.name={NAME}"


async def test_watch_of_a_failed_sweep_exits_3(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = {
        "phase": "Failed",
        "tasksTotal": 8,
        "tasksDone": 6,
        "tasksFailed": 2,
        "failedIndexes": "3,5",
        "message": "2 tasks failed",
    }
    put_sweep(kmock, status=failed)
    code, out, _ = await sweepctl(capsys, "watch", NAME, "--kubeconfig", cluster, "--no-progress")
    assert code == 3
    assert out.splitlines()[:2] == [
        f"sweep {NAMESPACE}/{NAME}: Failed: 6/8 tasks done, 2 failed",
        "failed indexes: 3,5",
    ]


async def test_watch_of_a_sweep_deleted_meanwhile_exits_4(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8, "tasksDone": 1})
    run = asyncio.create_task(sweepctl(capsys, "watch", NAME, "--kubeconfig", cluster))
    await watch_opened(kmock)
    api = custom_api(kmock)
    await asyncio.to_thread(
        api.delete_namespaced_custom_object, "govsim.io", "v1alpha1", NAMESPACE, "sweeps", NAME
    )
    code, out, err = await run
    assert (code, out) == (4, "")
    assert err.strip().splitlines()[-1] == (
        f"sweepctl: Sweep {NAMESPACE}/{NAME} was deleted while watching"
    )


async def test_watch_falls_back_to_polling_when_the_watch_breaks(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kmock[kmock.action.WATCH] << 500 << {"kind": "Status", "code": 500, "message": "no watch"}
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8, "tasksDone": 1})
    run = asyncio.create_task(
        sweepctl(capsys, "watch", NAME, "--kubeconfig", cluster, "--interval", "0.1")
    )
    await until(lambda: len(requests(kmock, "GET", f".*/sweeps/{NAME}")) >= 3, "polling")
    put_sweep(kmock, status={"phase": "Succeeded", "tasksTotal": 8, "tasksDone": 8})
    code, out, err = await run
    assert code == 0, err
    assert out.startswith(f"sweep {NAMESPACE}/{NAME}: Succeeded: 8/8 tasks done")
    assert "the watch broke" in err and "no watch" in err


async def test_watch_times_out_with_124(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kmock[kmock.action.WATCH] << 500 << {"kind": "Status", "code": 500, "message": "no watch"}
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8, "tasksDone": 2})
    code, out, err = await sweepctl(
        capsys, "watch", NAME, "--kubeconfig", cluster, "--timeout", "0.5", "--interval", "0.1"
    )
    assert (code, out) == (124, "")
    assert "the API server answered 500: no watch); polling instead" in err
    assert err.strip().splitlines()[-1] == (
        f"sweepctl: Sweep {NAMESPACE}/{NAME} is still Running after 0.5 s (2/8 tasks done)"
    )


# --- logs ---------------------------------------------------------------------------------------


def put_pod(kmock: Any, index: int, suffix: str, created: str, log: str) -> str:
    name = f"{NAME}-{index}-{suffix}"
    kmock.objects[PODS, NAMESPACE, name] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "creationTimestamp": created,
            "labels": {
                "batch.kubernetes.io/job-name": NAME,
                "batch.kubernetes.io/job-completion-index": str(index),
            },
        },
    }
    kmock["get", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/log"] << log.encode()
    return name


async def test_logs_of_one_index_show_its_latest_attempt_or_all(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8})
    put_pod(kmock, 2, "aaaaa", "2025-01-01T00:01:00Z", "first try\n")
    put_pod(kmock, 2, "bbbbb", "2025-01-01T00:05:00Z", "second try\n")
    put_pod(kmock, 3, "ccccc", "2025-01-01T00:01:00Z", "three\n")
    code, out, _ = await sweepctl(capsys, "logs", NAME, "--index", "2", "--kubeconfig", cluster)
    assert (code, out) == (0, "second try\n")
    (listing,) = requests(kmock, "GET", f"/api/v1/namespaces/{NAMESPACE}/pods")
    assert listing.params["labelSelector"] == f"batch.kubernetes.io/job-name={NAME}"

    code, out, _ = await sweepctl(
        capsys,
        "logs",
        NAME,
        "--index",
        "2",
        "--all-attempts",
        "--tail",
        "5",
        "--kubeconfig",
        cluster,
    )
    assert code == 0
    assert out.splitlines() == [
        f"==> index 2, attempt 1: pod {NAME}-2-aaaaa <==",
        "first try",
        f"==> index 2, attempt 2: pod {NAME}-2-bbbbb <==",
        "second try",
    ]
    assert requests(kmock, "GET", r".*/log")[-1].params["tailLines"] == "5"


async def test_logs_of_every_index_are_prefixed(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8})
    put_pod(kmock, 10 - 9, "aaaaa", "2025-01-01T00:02:00Z", "one a\none b\n")
    put_pod(kmock, 0, "bbbbb", "2025-01-01T00:03:00Z", "zero\n")
    code, out, _ = await sweepctl(capsys, "logs", NAME, "--kubeconfig", cluster)
    assert code == 0
    assert out.splitlines() == ["[0] zero", "[1] one a", "[1] one b"]


@pytest.mark.parametrize(
    ("phase", "reason"),
    [
        ("Pending", "has no pod yet: the sweep has not started"),
        ("Running", "has no pod yet: it has not started"),
        ("Succeeded", "has no pod: the sweep Succeeded; its Job and pods were deleted"),
    ],
)
async def test_logs_of_an_index_without_pod_say_why(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str], phase: str, reason: str
) -> None:
    put_sweep(kmock, status={"phase": phase, "tasksTotal": 8})
    code, out, err = await sweepctl(capsys, "logs", NAME, "--index", "4", "--kubeconfig", cluster)
    assert (code, out) == (1, "")
    line = one_line(err)
    assert line.startswith(f"sweepctl: error: index 4 of Sweep {NAMESPACE}/{NAME} {reason}"), line


async def test_logs_index_outside_the_sweep_is_a_flag_error(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8})
    code, _, err = await sweepctl(capsys, "logs", NAME, "--index", "8", "--kubeconfig", cluster)
    assert code == 2
    assert one_line(err) == f"sweepctl: error: --index: 8 is outside [0, 7] (Sweep {NAME})"


async def test_logs_follow_streams_the_latest_attempt_of_one_index(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_sweep(kmock, status={"phase": "Running", "tasksTotal": 8})
    put_pod(kmock, 5, "aaaaa", "2025-01-01T00:01:00Z", "old\n")
    put_pod(kmock, 5, "bbbbb", "2025-01-01T00:02:00Z", "run 1 of 10\nrun 2 of 10\n")
    code, out, _ = await sweepctl(
        capsys, "logs", NAME, "--index", "5", "-f", "--tail", "2", "--kubeconfig", cluster
    )
    assert (code, out) == (0, "run 1 of 10\nrun 2 of 10\n")
    (request,) = requests(kmock, "GET", r".*/log")
    assert request.url.path.endswith(f"/pods/{NAME}-5-bbbbb/log")
    assert (request.params["follow"], request.params["tailLines"]) == ("true", "2")


# --- delete -------------------------------------------------------------------------------------


async def test_delete_removes_the_sweep_in_the_background_and_keeps_results(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = "s3://govsim-results/sweeps/whale-vs-conformity/"
    put_sweep(kmock, status={"phase": "Succeeded", "resultsUri": uri})
    code, out, _ = await sweepctl(capsys, "delete", NAME, "--wait", "--kubeconfig", cluster)
    assert code == 0
    assert stored(kmock, NAMESPACE) is None
    (request,) = requests(kmock, "DELETE", f".*/namespaces/{NAMESPACE}/sweeps/{NAME}")
    assert request.params["propagationPolicy"] == "Background"
    assert f"results stay in {uri}" in out
    assert out.splitlines()[-1] == f"sweep {NAMESPACE}/{NAME} is gone"


async def test_delete_wait_names_the_finalizer_that_holds_the_sweep(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = put_sweep(kmock)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    kmock.objects[SWEEPS, NAMESPACE, NAME] = body
    code, _, err = await sweepctl(
        capsys, "delete", NAME, "--wait", "--timeout", "0.5", "--kubeconfig", cluster
    )
    assert code == 124
    assert err.strip() == (
        f"sweepctl: Sweep {NAMESPACE}/{NAME} still exists after 0.5 s "
        "(held by finalizers example.com/hold)"
    )


# --- errors: one line, non-zero, never a traceback -----------------------------------------------


@pytest.mark.parametrize("command", ["list", "watch", "logs", "delete"])
async def test_a_missing_sweep_is_one_line(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [command] + ([] if command == "list" else ["nope"]) + ["--kubeconfig", str(cluster)]
    code, _, err = await sweepctl(capsys, *argv)
    if command == "list":
        assert code == 0
        return
    assert code == 1
    assert one_line(err) == f"sweepctl: error: Sweep 'nope' not found in namespace {NAMESPACE}"


@pytest.mark.parametrize("argv", [("list",), ("watch", NAME), ("delete", NAME), ("logs", NAME)])
async def test_a_cluster_without_the_crd_is_one_line(
    kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
) -> None:  # fmt: skip
    kmock.resources["v1/namespaces"] = kmock.ResourceInfo(kind="Namespace", namespaced=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    config = write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))
    code, _, err = await sweepctl(capsys, *argv, "--kubeconfig", config)
    assert code == 1
    assert re.fullmatch(
        r"sweepctl: error: the cluster at http://\S+ does not serve sweeps\.govsim\.io/v1alpha1: "
        r"the Sweep CRD is not installed \(helm install govsim charts/govsim\)",
        one_line(err),
    )


@pytest.mark.parametrize(
    ("status", "code", "pattern"),
    [
        (401, 1, r"list Sweeps in namespace research: unauthorized \(401\): the cluster at \S+ "
                 r"refused the credentials of context lab: bad token"),
        (403, 1, r"list Sweeps in namespace research: forbidden \(403\): sweeps\.govsim\.io is "
                 r"forbidden: User \"me\" cannot list"),
        (503, 75, r"list Sweeps in namespace research: the API server answered 503: busy"),
    ],
)  # fmt: skip
async def test_refusals_of_the_api_server_are_one_line(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str],
    status: int, code: int, pattern: str,
) -> None:  # fmt: skip
    message = {
        401: "bad token",
        403: 'sweeps.govsim.io is forbidden: User "me" cannot list',
        503: "busy",
    }
    reply = {"kind": "Status", "code": status, "message": message[status]}
    kmock["get", re.compile(r"/apis/govsim\.io/v1alpha1/namespaces/.*/sweeps")] << status << reply
    got, _, err = await sweepctl(capsys, "list", "--kubeconfig", cluster)
    assert got == code
    assert re.fullmatch(f"sweepctl: error: {pattern}.*", one_line(err))


async def test_an_unreachable_cluster_is_one_line(
    kmock: Any, cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await sweepctl(capsys, "list", "--kubeconfig", cluster, "--context", "dead")
    assert code == 75
    assert re.fullmatch(
        r"sweepctl: error: cannot reach the cluster at http://127\.0\.0\.1:\d+ \(context dead\): "
        r".*Connection refused",
        one_line(err),
    )


async def test_kubeconfig_env_and_context_errors(
    kmock: Any, cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    code, _, err = await sweepctl(capsys, "list")
    assert code == 2
    assert one_line(err) == (
        "sweepctl: error: no kubeconfig: ~/.kube/config does not exist and KUBECONFIG is not "
        "set; pass --kubeconfig FILE"
    )
    code, _, err = await sweepctl(capsys, "list", "--kubeconfig", tmp_path / "missing")
    assert code == 2
    assert one_line(err) == f"sweepctl: error: --kubeconfig: '{tmp_path / 'missing'}': no such file"

    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{cluster}")  # merged like kubectl
    put_sweep(kmock, OTHER)
    code, out, err = await sweepctl(capsys, "list", "--context", "other")
    assert code == 0 and out.splitlines()[1].split()[0] == NAME, err

    code, _, err = await sweepctl(capsys, "list", "--context", "prod")
    assert code == 2
    assert one_line(err) == (
        f"sweepctl: error: --context: 'prod' is not a context in {cluster} "
        "(contexts: lab, other, dead)"
    )
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")  # a pod without its token mounted
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    code, _, err = await sweepctl(capsys, "list")
    assert code == 2
    assert one_line(err).startswith("sweepctl: error: in-cluster configuration: ")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")

    (tmp_path / "bad").write_text("clusters: [\n")
    code, _, err = await sweepctl(capsys, "list", "--kubeconfig", tmp_path / "bad")
    assert code == 2
    assert one_line(err).startswith(f"sweepctl: error: --kubeconfig: {tmp_path / 'bad'}: ")
