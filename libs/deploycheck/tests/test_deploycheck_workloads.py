"""Environment resolution of rendered workloads: what the kubelet would give, made local."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from shop_deploycheck.manifests import render_set
from shop_deploycheck.workloads import (
    LocalEnvironment,
    PortMap,
    ResolutionError,
    cluster_host,
    expand,
    helm_test_pods,
    workloads,
)

IMAGE = "localhost/shop-demo:1"


def deployment(env: list[dict[str, Any]], **container: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "shop-demo", "namespace": "shop"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "demo", "tier": "backend"}},
                "spec": {
                    "serviceAccountName": "shop-demo",
                    "securityContext": {"runAsUser": 10001, "runAsGroup": 10001},
                    "containers": [
                        {
                            "name": "demo",
                            "image": IMAGE,
                            "command": ["shop-demo"],
                            "args": ["serve", "--as=$(POD_NAME)"],
                            "env": env,
                            "ports": [
                                {"name": "grpc", "containerPort": 50051},
                                {"name": "metrics", "containerPort": 9101},
                            ],
                            "startupProbe": {"grpc": {"port": 50051}},
                            "securityContext": {"readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                            "resources": {"limits": {"memory": "512Mi"}},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            **container,
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            }
        },
    }


SERVICE = {
    "kind": "Service",
    "metadata": {"name": "shop-demo-headless", "namespace": "shop"},
    "spec": {"selector": {"app.kubernetes.io/name": "demo"}, "ports": [{"port": 50051, "targetPort": "grpc"}]},
}
MIGRATE_JOB = {
    "kind": "Job",
    "metadata": {"name": "shop-demo-migrate", "namespace": "shop"},
    "spec": {
        "template": {
            "spec": {"containers": [{"name": "migrate", "image": IMAGE, "command": ["shop-demo"], "args": ["migrate"]}]}
        }
    },
}


def local(*manifests: dict[str, Any]) -> LocalEnvironment:
    ports = itertools.count(40000)
    return LocalEnvironment(
        list(manifests),
        {"demo": "postgresql://demo@/demo?host=/run/postgresql"},
        "nats://127.0.0.1:4222",
        "http://127.0.0.1:4317",
        PortMap(allocate=lambda: next(ports)),
    )


def test_the_container_and_its_migration_job_are_read() -> None:
    [workload] = workloads([deployment([]), MIGRATE_JOB, SERVICE])
    container = workload.container
    assert (workload.service, workload.deployment, workload.namespace) == ("demo", "shop-demo", "shop")
    assert (container.run_as_user, container.run_as_group, container.read_only_root) == (10001, 10001, True)
    assert container.tmpfs == (("/tmp", "64Mi"),)
    assert container.memory_limit == 512 * 2**20
    assert container.health is not None and (container.health.kind, container.health.port) == ("grpc", 50051)
    assert workload.metrics_port == 9101
    assert workload.migrate is not None and workload.migrate.args == ("migrate",)


def test_environment_is_resolved_and_made_local() -> None:
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
        {"name": "INSTANCE_NAME", "value": "$(POD_NAME)"},
        {"name": "LITERAL", "value": "$$(POD_NAME)"},
        {"name": "GRPC_PORT", "value": "50051"},
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "shop-demo-db-app", "key": "uri"}}},
        {"name": "NATS_URL", "value": "nats://nats.nats.svc.cluster.local:4222"},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel.observability.svc:4317"},
        {"name": "PEER_ADDR", "value": "dns:///shop-demo-headless.shop.svc.cluster.local:50051"},
    ]
    environment = local(deployment(env), SERVICE)
    [workload] = environment.workloads
    resolved = environment.environment(workload)
    grpc_port = environment.local_port(workload, 50051)
    assert resolved["POD_NAME"] == resolved["INSTANCE_NAME"] == "shop-demo-local"
    assert resolved["TIER"] == "backend"
    assert resolved["LITERAL"] == "$(POD_NAME)"
    assert resolved["GRPC_PORT"] == str(grpc_port)
    assert resolved["DATABASE_URL"] == "postgresql://demo@/demo?host=/run/postgresql"
    assert resolved["NATS_URL"] == "nats://127.0.0.1:4222"
    assert resolved["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
    assert resolved["PEER_ADDR"] == f"dns:///127.0.0.1:{grpc_port}"
    assert environment.argv(workload) == ["shop-demo", "serve", "--as=shop-demo-local"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "vendor", "key": "key"}}}, "secret vendor/key"),
        ({"name": "CACHE_ADDR", "value": "redis.cache.svc.cluster.local:6379"}, "cluster addresses"),
        ({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}, "fieldRef status.phase"),
        ({"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}, "ConfigMap absent"),
    ],
)
def test_what_has_no_local_value_is_an_error(entry: dict[str, Any], message: str) -> None:
    environment = local(deployment([entry]), SERVICE)
    with pytest.raises(ResolutionError, match=message):
        environment.environment(environment.workloads[0])


def test_optional_secrets_are_left_out() -> None:
    entry = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "vendor", "key": "t", "optional": True}}}
    environment = local(deployment([entry]))
    assert "TOKEN" not in environment.environment(environment.workloads[0])


def test_expansion_and_cluster_hosts() -> None:
    assert expand("$(A)-$(B)-$$(A)", {"A": "1"}) == "1-$(B)-$(A)"
    assert cluster_host("http://shop-gateway.shop.svc.cluster.local:8080/x")
    assert cluster_host("nats://nats.nats.svc:4222")
    assert not cluster_host("http://127.0.0.1:8080")
    assert not cluster_host("k8s.pod.name=shop-demo-local")


def helm_test_manifest(args: list[str]) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": "shop-demo-test-health",
            "namespace": "shop",
            "labels": {"app.kubernetes.io/name": "demo"},
            "annotations": {"helm.sh/hook": "test"},
        },
        "spec": {"containers": [{"name": "health", "image": IMAGE, "command": ["python", "-c", "..."], "args": args}]},
    }


def test_the_rendered_helm_test_pods_check_the_local_servers() -> None:
    manifests = render_set("defaults").manifests
    environment = local(*manifests)
    pods = helm_test_pods(manifests)
    served = {w.service: w for w in environment.workloads}
    assert pods and {p.service for p in pods} <= set(served)
    for pod in pods:
        workload = served[pod.service]
        [service] = [m for m in manifests if m["kind"] == "Service" and m["metadata"]["name"] == workload.deployment]
        rendered = [*pod.container.command, *pod.container.args]
        argv = environment.test_argv(pod)
        [changed] = [i for i, (before, after) in enumerate(zip(rendered, argv, strict=True)) if before != after]
        host = f"{service['metadata']['name']}.shop.svc.cluster.local"
        port = next(p for p in service["spec"]["ports"] if f"{host}:{p['port']}" in rendered[changed])
        local_port = environment.local_port(workload, workload.container.resolve_port(port["targetPort"]))
        assert argv[changed] == rendered[changed].replace(f"{host}:{port['port']}", f"127.0.0.1:{local_port}")
        assert not cluster_host(argv[changed])


def test_test_pod_args_are_rewritten_and_must_resolve() -> None:
    environment = local(deployment([]), SERVICE, helm_test_manifest(["shop-demo-headless:50051", "5"]))
    [pod] = helm_test_pods(environment.manifests)
    port = environment.local_port(environment.workloads[0], 50051)
    assert environment.test_argv(pod) == ["python", "-c", "...", f"127.0.0.1:{port}", "5"]
    elsewhere = local(
        deployment([]), SERVICE, helm_test_manifest(["http://shop-gone.shop.svc.cluster.local:8080/readyz"])
    )
    with pytest.raises(ResolutionError, match="shop-demo-test-health: cluster addresses"):
        elsewhere.test_argv(helm_test_pods(elsewhere.manifests)[0])
