"""How a Kubernetes container spec becomes a `podman run` command line (no podman needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kit.podman import ContainerSpecError, Podman, container_argv, expand_k8s_vars

PODMAN = Podman(Path("/store"))
IMAGE = "localhost/govsim:dev"


def argv_for(container: dict[str, Any], tmp_path: Path, **options: Any) -> list[str]:
    options.setdefault("image_user", "10001:10001")
    _, argv = container_argv(PODMAN, IMAGE, container, scratch=tmp_path, **options)
    return argv


def after_image(argv: list[str]) -> list[str]:
    return argv[argv.index(IMAGE) + 1 :]


def option_values(argv: list[str], option: str) -> list[str]:
    before = argv[: argv.index(IMAGE)]
    return [before[i + 1] for i, arg in enumerate(before) if arg == option]


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$(A)-$(B)", {"A": "1", "B": "2"}, "1-2"),
        ("$(MISSING)", {}, "$(MISSING)"),
        ("$$(A)", {"A": "1"}, "$(A)"),
        ("$$$(A)", {"A": "1"}, "$1"),
        ("$A ${A}", {"A": "1"}, "$A ${A}"),
    ],
)
def test_expand_k8s_vars(text: str, env: dict[str, str], expected: str) -> None:
    assert expand_k8s_vars(text, env) == expected


def test_every_run_uses_the_private_store_runc_and_host_network(tmp_path: Path) -> None:
    argv = argv_for({"name": "c"}, tmp_path)
    assert argv[:5] == ["podman", "--root", "/store/storage", "--runroot", "/store/run"]
    assert option_values(argv, "--runtime") == ["/usr/sbin/runc"]
    assert "--network=host" in argv and "--rm" in argv
    assert after_image(argv) == []


def test_command_replaces_the_entrypoint_and_args_follow_the_image(tmp_path: Path) -> None:
    container = {
        "command": ["sweepctl"],
        "args": ["worker", "/etc/govsim/sweep.yaml", "--index", "$(JOB_COMPLETION_INDEX)"],
    }
    argv = argv_for(container, tmp_path, extra_env={"JOB_COMPLETION_INDEX": "3"})
    assert [json.loads(v) for v in option_values(argv, "--entrypoint")] == [["sweepctl"]]
    assert after_image(argv) == ["worker", "/etc/govsim/sweep.yaml", "--index", "3"]
    assert option_values(argv, "-e") == ["JOB_COMPLETION_INDEX=3"]


def test_env_values_expand_earlier_entries_and_extra_env_overrides(tmp_path: Path) -> None:
    container = {
        "env": [
            {"name": "BUCKET", "value": "results"},
            {"name": "URI", "value": "s3://$(BUCKET)/$(JOB_COMPLETION_INDEX)"},
            {"name": "AWS_ENDPOINT_URL_S3", "value": "https://s3.amazonaws.com"},
        ]
    }
    extra = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "JOB_COMPLETION_INDEX": "0"}
    assert option_values(argv_for(container, tmp_path, extra_env=extra), "-e") == [
        "BUCKET=results",
        "URI=s3://results/$(JOB_COMPLETION_INDEX)",
        "AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000",
        "JOB_COMPLETION_INDEX=0",
    ]


def test_value_from_needs_extra_env(tmp_path: Path) -> None:
    field_ref = {"fieldRef": {"fieldPath": "metadata.name"}}
    container = {"env": [{"name": "POD", "valueFrom": field_ref}]}
    with pytest.raises(ContainerSpecError, match="env POD: valueFrom"):
        argv_for(container, tmp_path)
    assert option_values(argv_for(container, tmp_path, extra_env={"POD": "p-0"}), "-e") == [
        "POD=p-0"
    ]


@pytest.mark.parametrize(
    ("pod_ctx", "ctx", "image_user", "expected"),
    [
        ({}, {}, "10001:10001", []),
        ({"runAsUser": 5, "runAsGroup": 6}, {}, "10001:10001", ["5:6"]),
        ({"runAsUser": 5, "runAsGroup": 6}, {"runAsUser": 7}, "10001:10001", ["7:6"]),
        ({}, {"runAsUser": 7}, "10001:10002", ["7:10002"]),
        ({}, {"runAsGroup": 8}, "10001:10002", ["10001:8"]),
    ],
)
def test_user_and_group_from_container_then_pod_then_image(
    tmp_path: Path,
    pod_ctx: dict[str, Any],
    ctx: dict[str, Any],
    image_user: str,
    expected: list[str],
) -> None:
    argv = argv_for(
        {"securityContext": ctx},
        tmp_path,
        pod_spec={"securityContext": pod_ctx},
        image_user=image_user,
    )
    assert option_values(argv, "--user") == expected


@pytest.mark.parametrize(
    ("ctx", "image_user"),
    [({"runAsNonRoot": True}, "root"), ({"runAsNonRoot": True}, ""), ({"runAsUser": 0}, "10001")],
)
def test_run_as_non_root_refuses_what_the_kubelet_refuses(
    tmp_path: Path, ctx: dict[str, Any], image_user: str
) -> None:
    pod = {"securityContext": {"runAsNonRoot": True}}
    with pytest.raises(ContainerSpecError, match="runAsNonRoot"):
        argv_for({"securityContext": ctx}, tmp_path, pod_spec=pod, image_user=image_user)


def test_hardening_maps_to_podman_options(tmp_path: Path) -> None:
    ctx = {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }
    before = argv_for({"securityContext": ctx}, tmp_path)
    for option in (
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop=all",
        "--cap-add=NET_BIND_SERVICE",
    ):
        assert option in before
    assert option_values(before, "--security-opt") == ["no-new-privileges"]


def test_empty_dir_is_a_tmpfs_and_config_map_a_read_only_bind(tmp_path: Path) -> None:
    pod = {
        "volumes": [
            {"name": "tmp", "emptyDir": {"medium": "Memory"}},
            {"name": "spec", "configMap": {"name": "cm"}},
            {
                "name": "one",
                "configMap": {"name": "cm", "items": [{"key": "b", "path": "x/b.txt"}]},
            },
        ]
    }
    container = {
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "spec", "mountPath": "/etc/govsim", "readOnly": True},
            {"name": "one", "mountPath": "/etc/one.txt", "subPath": "x/b.txt"},
        ]
    }
    argv = argv_for(container, tmp_path, pod_spec=pod, config_maps={"cm": {"a": "A", "b": "B"}})
    assert option_values(argv, "--tmpfs") == ["/tmp:rw,exec,mode=1777"]
    binds = option_values(argv, "-v")
    assert binds == [
        f"{tmp_path}/cm-spec:/etc/govsim:ro",
        f"{tmp_path}/cm-one/x/b.txt:/etc/one.txt:ro",
    ]
    assert (tmp_path / "cm-spec" / "a").read_text() == "A"
    assert sorted(p.name for p in (tmp_path / "cm-spec").iterdir()) == ["a", "b"]
    assert [p.name for p in (tmp_path / "cm-one").rglob("*") if p.is_file()] == ["b.txt"]


@pytest.mark.parametrize(
    ("volumes", "config_maps", "match"),
    [
        ([], {}, "no such volume"),
        ([{"name": "v", "configMap": {"name": "cm"}}], {}, "not given in config_maps"),
        (
            [{"name": "v", "configMap": {"name": "cm", "items": [{"key": "k", "path": "p"}]}}],
            {"cm": {}},
            "has no key 'k'",
        ),
        ([{"name": "v", "secret": {"secretName": "s"}}], {}, "not supported"),
    ],
)
def test_volumes_it_cannot_reproduce_are_refused(
    tmp_path: Path, volumes: list[dict[str, Any]], config_maps: dict[str, Any], match: str
) -> None:
    container = {"volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    with pytest.raises(ContainerSpecError, match=match):
        argv_for(container, tmp_path, pod_spec={"volumes": volumes}, config_maps=config_maps)
