"""What the chart promises, checked on every render: names and labels, pods that drain cleanly and
run under Pod Security "restricted", autoscaling without conflicts, canary wiring, and the env each
service reads, down to NetworkPolicies that let every configured connection through."""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import math
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic_settings import BaseSettings

from shop_deploycheck.containers import SERVICES as COMPONENTS
from shop_deploycheck.manifests import Endpoint, Manifest, Render, allowed, env_of, labels_match, render_set

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
GRPC_SERVICES = tuple(name for name in COMPONENTS if name != "sandbox")  # the sandbox serves HTTP
# Set by the chart for the downward API; the services themselves do not read them.
DOWNWARD_API = {"POD_NAME", "POD_NAMESPACE", "NODE_NAME", "OTEL_RESOURCE_ATTRIBUTES"}


def service_name(manifest: Manifest) -> str:
    return str(manifest["metadata"]["labels"]["app.kubernetes.io/name"])


def main_container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def settings_class(name: str) -> type[BaseSettings]:
    module = importlib.import_module(f"shop_{name}.settings")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == module.__name__
    ]
    assert len(found) == 1, f"shop_{name}.settings: {found}"
    return found[0]


@cache
def settings_variables(name: str) -> frozenset[str]:
    """The environment variables a service reads: what `shop-<name> settings` lists."""
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):
        importlib.import_module(f"shop_{name}.main").main(["settings"])
    rows = listing.getvalue().splitlines()[1:]  # below the header
    return frozenset(row.split(" | ", 1)[0].strip() for row in rows if " | " in row)


def container_port(container: dict[str, Any], name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert name in ports, f"{container['name']} has no port named {name}: {ports}"
    return int(ports[name])


# --- every resource ------------------------------------------------------------------------------


def test_every_resource_is_in_the_release_namespace_and_labelled(rendered: Render) -> None:
    for manifest in rendered.manifests:
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        assert manifest["metadata"].get("namespace") == rendered.namespace, where
        labels = manifest["metadata"].get("labels", {})
        missing = [label for label in STANDARD_LABELS if label not in labels]
        assert not missing, f"{where} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == rendered.release, where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where


def test_pods_carry_the_standard_labels(rendered: Render) -> None:
    for manifest, _ in rendered.workloads():
        labels = (
            manifest["metadata"]["labels"]
            if manifest["kind"] == "Pod"
            else manifest["spec"]["template"]["metadata"]["labels"]
        )
        assert all(label in labels for label in STANDARD_LABELS), manifest["metadata"]["name"]


def test_names_and_namespace_follow_the_release() -> None:
    """Another release name and namespace: nothing keeps the defaults' names."""
    other = render_set("production", release="acme", namespace="retail")
    for manifest in other.manifests:
        assert manifest["metadata"]["namespace"] == "retail"
        assert manifest["metadata"]["name"].startswith("acme-"), manifest["metadata"]["name"]
    for deployment in other.service_deployments():
        for entry in main_container(deployment).get("env", []):
            if entry["name"].endswith("_ADDR"):
                assert ".retail.svc.cluster.local:" in entry["value"], entry
                assert "//acme-" in entry["value"], entry


def test_resource_names_are_unique(rendered: Render) -> None:
    keys = [(m["kind"], m["metadata"]["name"]) for m in rendered.manifests]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


# --- pods ----------------------------------------------------------------------------------------


def test_pods_meet_pod_security_restricted(rendered: Render) -> None:
    for manifest, pod in rendered.workloads():
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        pod_security = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, where
        for container in pod["containers"] + pod.get("initContainers", []):
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, where
            assert security.get("runAsUser", 0) >= 10000, where
            assert security.get("runAsGroup", 0) >= 10000, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not security.get("capabilities", {}).get("add"), where
            assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: /tmp must be writable (read-only root)"
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], where
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where


def test_each_service_has_its_own_service_account_without_token(rendered: Render) -> None:
    accounts = set()
    for deployment in rendered.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        account = rendered.find("ServiceAccount", pod["serviceAccountName"])
        assert account is not None, pod["serviceAccountName"]
        assert account.get("automountServiceAccountToken") is False
        accounts.add(pod["serviceAccountName"])
    service_accounts = [d["spec"]["template"]["spec"]["serviceAccountName"] for d in rendered.service_deployments()]
    assert len(service_accounts) == len(set(service_accounts)), "services share a ServiceAccount"


def test_termination_grace_covers_pre_stop_and_drain(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        pod = deployment["spec"]["template"]["spec"]
        container = main_container(deployment)
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        drain = float(env_of(container)["SHUTDOWN_GRACE_SECONDS"]["value"])
        assert pre_stop > 0, deployment["metadata"]["name"]
        assert pod["terminationGracePeriodSeconds"] > pre_stop + drain, deployment["metadata"]["name"]


def test_probes_use_the_plain_text_health_port(rendered: Render) -> None:
    """The kubelet presents no certificate: probes go to the port HEALTH_PORT serves in plain text."""
    for deployment in rendered.service_deployments():
        container = main_container(deployment)
        name = service_name(deployment)
        health = container_port(container, "health")
        assert int(env_of(container)["HEALTH_PORT"]["value"]) == health, name
        others = [p["containerPort"] for p in container["ports"] if p["name"] != "health"]
        assert health not in others, name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            spec = container[probe]
            if name in GRPC_SERVICES:
                assert spec["grpc"]["port"] == health, (name, probe)
            else:
                port = spec["httpGet"]["port"]
                assert port == "health" or port == health, (name, probe)
        if name not in GRPC_SERVICES:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_pods_spread_over_zones_and_nodes(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        keys = set()
        for constraint in pod["topologySpreadConstraints"]:
            assert labels_match(constraint["labelSelector"]["matchLabels"], labels)
            keys.add(constraint["topologyKey"])
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_services_run_their_console_script(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        container = main_container(deployment)
        assert container["command"] == [f"shop-{service_name(deployment)}"]
        assert container["args"] == ["serve"]


# --- Services and addresses ----------------------------------------------------------------------


def test_grpc_services_have_named_ports_and_a_headless_twin(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        name = deployment["metadata"]["name"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        service = rendered.find("Service", name)
        headless = rendered.find("Service", f"{name}-headless")
        assert service is not None and headless is not None, name
        assert headless["spec"]["clusterIP"] == "None"
        for svc in (service, headless):
            assert labels_match(svc["spec"]["selector"], pod_labels), svc["metadata"]["name"]
            ports = {p["name"]: p for p in svc["spec"]["ports"]}
            if service_name(deployment) in GRPC_SERVICES:
                # gRPC over TLS between the services; the gateway's public gRPC API is plain h2c.
                edge = service_name(deployment) == "gateway"
                assert ports["grpc"]["appProtocol"] == ("kubernetes.io/h2c" if edge else "https")
                assert ports["grpc"]["targetPort"] == "grpc"
            # The health port is for the kubelet only.
            assert "health" not in ports and "health" not in {p["targetPort"] for p in ports.values()}


def test_peer_addresses_resolve_to_services_with_round_robin(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        for name, entry in env_of(main_container(deployment)).items():
            if not name.endswith("_ADDR"):
                continue
            match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", entry["value"])
            assert match, entry
            host, namespace, port = match.groups()
            assert namespace == rendered.namespace
            target = rendered.find("Service", host)
            assert target is not None, f"{name} -> {host}: no such Service"
            assert int(port) in {p["port"] for p in target["spec"]["ports"]}
            peer = name.removesuffix("_ADDR").lower()
            assert target["metadata"]["labels"]["app.kubernetes.io/name"] == peer
            routed = rendered.find("GRPCRoute", host) is not None
            # Without a router, clients balance per call over the pods: the headless Service.
            assert routed or target["spec"].get("clusterIP") == "None", entry


# --- environment ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*GRPC_SERVICES, "sandbox"])
def test_env_names_are_settings_the_service_reads(name: str) -> None:
    rendered = render_set("defaults")
    deployment = rendered.find("Deployment", f"shop-{name}")
    assert deployment is not None
    env = set(env_of(main_container(deployment)))
    unknown = env - settings_variables(name) - DOWNWARD_API
    assert not unknown, f"{name} does not read {sorted(unknown)}"


def test_env_sets_everything_a_deployment_depends_on(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        name = service_name(deployment)
        env = env_of(main_container(deployment))
        reads = settings_variables(name)
        needed = {v for v in reads if v.endswith("_ADDR")} | {"OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT"}
        needed |= reads & {"DATABASE_URL", "NATS_URL", "PAYMENT_PROVIDER_URL", "GRPC_PORT", "METRICS_PORT", "HTTP_PORT"}
        needed |= reads & {"TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE", "HEALTH_PORT"}
        assert needed <= set(env), f"{name} lacks {sorted(needed - set(env))}"
        assert env["OTEL_SERVICE_NAME"]["value"] == name
        if name in GRPC_SERVICES:
            container = main_container(deployment)
            assert int(env["GRPC_PORT"]["value"]) == container_port(container, "grpc")
            assert int(env["METRICS_PORT"]["value"]) == container_port(container, "metrics")
            # The server's own default: the chart and the code agree on the port.
            assert settings_class(name).model_fields["grpc_port"].default == int(env["GRPC_PORT"]["value"])


def test_downward_api_feeds_the_resource_attributes(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        entries = main_container(deployment)["env"]
        names = [e["name"] for e in entries]
        fields = {
            e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in entries if "fieldRef" in e.get("valueFrom", {})
        }
        assert fields == {
            "POD_NAME": "metadata.name",
            "POD_NAMESPACE": "metadata.namespace",
            "NODE_NAME": "spec.nodeName",
        }
        attributes = dict(
            pair.split("=", 1)
            for pair in env_of(main_container(deployment))["OTEL_RESOURCE_ATTRIBUTES"]["value"].split(",")
        )
        assert attributes["k8s.pod.name"] == "$(POD_NAME)"
        assert attributes["k8s.namespace.name"] == "$(POD_NAMESPACE)"
        assert attributes["k8s.node.name"] == "$(NODE_NAME)"
        # $(VAR) expands only to variables defined earlier in the list.
        for entry in entries:
            for ref in re.findall(r"\$\(([A-Z_]+)\)", str(entry.get("value", ""))):
                assert names.index(ref) < names.index(entry["name"]), (entry["name"], ref)
        if service_name(deployment) == "checkout":
            assert env_of(main_container(deployment))["INSTANCE_NAME"]["value"] == "$(POD_NAME)"


def test_database_url_comes_from_the_right_place(rendered: Render) -> None:
    clusters = {c["metadata"]["name"] for c in rendered.of_kind("Cluster")}
    for deployment in rendered.service_deployments():
        env = env_of(main_container(deployment))
        if "DATABASE_URL" not in env:
            assert service_name(deployment) == "gateway"
            continue
        source = env["DATABASE_URL"]
        if clusters:
            ref = source["valueFrom"]["secretKeyRef"]
            assert ref["key"] == "uri"
            assert ref["name"].removesuffix("-app") in clusters, ref
            cluster = rendered.find("Cluster", ref["name"].removesuffix("-app"))
            assert cluster is not None
            assert cluster["spec"]["bootstrap"]["initdb"]["database"] == service_name(deployment)
        else:
            assert "secretKeyRef" in source.get("valueFrom", {}) or source.get("value", "").startswith("postgres")


def test_migrations_run_as_hook_jobs_with_the_service_env(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        name = service_name(deployment)
        env = env_of(main_container(deployment))
        job = rendered.find("Job", f"{deployment['metadata']['name']}-migrate")
        if "DATABASE_URL" not in env:
            assert job is None
            continue
        assert job is not None, name
        hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
        assert "pre-upgrade" in hooks and hooks & {"pre-install", "post-install"}, hooks
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == [f"shop-{name}"] and container["args"] == ["migrate"]
        assert container["image"] == main_container(deployment)["image"]
        assert env_of(container)["DATABASE_URL"] == env["DATABASE_URL"]
        account = job["spec"]["template"]["spec"]["serviceAccountName"]
        hook_account = rendered.find("ServiceAccount", account)
        # A hook runs before the release's own resources exist: its account must be a hook too.
        assert hook_account is not None and "helm.sh/hook" in hook_account["metadata"]["annotations"]


# --- scaling -------------------------------------------------------------------------------------


def scale_targets(rendered: Render) -> dict[tuple[str, str], list[Manifest]]:
    targets: dict[tuple[str, str], list[Manifest]] = {}
    for scaler in rendered.of_kind("HorizontalPodAutoscaler", "ScaledObject"):
        ref = scaler["spec"]["scaleTargetRef"]
        targets.setdefault((ref.get("kind", "Deployment"), ref["name"]), []).append(scaler)
    return targets


def test_one_autoscaler_per_target_and_it_exists(rendered: Render) -> None:
    for (kind, name), scalers in scale_targets(rendered).items():
        assert len(scalers) == 1, f"{kind}/{name} has {[s['kind'] for s in scalers]}"
        assert rendered.find(kind, name) is not None, f"autoscaler targets missing {kind}/{name}"
        if rendered.find("Rollout", name) is not None:
            assert kind == "Rollout", f"{name}: canary on, the autoscaler must scale the Rollout"


def test_hpa_has_behavior_and_sane_bounds(rendered: Render) -> None:
    for hpa in rendered.of_kind("HorizontalPodAutoscaler"):
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert {"scaleUp", "scaleDown"} <= set(hpa["spec"]["behavior"])
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def consumed_streams(name: str) -> set[tuple[str, str]]:
    """(stream, durable) of every consumer the service's main.py registers, read from the code."""
    from shopkit.events import stream_name

    main = importlib.import_module(f"shop_{name}.main")
    tree = ast.parse(Path(str(main.__file__)).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "consume":
            args = {k.arg: k.value for k in node.keywords}
            durable = eval(compile(ast.Expression(args["name"]), "<name>", "eval"), vars(main))
            source = ast.literal_eval(args["source_service"])
            found.add((stream_name(source), f"{name}-{durable}"))
    return found


def test_keda_scales_consumers_on_their_real_streams(rendered: Render) -> None:
    for scaled in rendered.of_kind("ScaledObject"):
        name = scaled["metadata"]["labels"]["app.kubernetes.io/name"]
        triggers = scaled["spec"]["triggers"]
        lag = {(t["metadata"]["stream"], t["metadata"]["consumer"]) for t in triggers if t["type"] == "nats-jetstream"}
        assert lag == consumed_streams(name), name
        assert any(t["type"] == "cpu" for t in triggers), name
        for trigger in triggers:
            if trigger["type"] == "nats-jetstream":
                assert trigger["metadata"]["natsServerMonitoringEndpoint"].endswith(":8222")
                assert int(trigger["metadata"]["lagThreshold"]) > 0


def minimum_replicas(rendered: Render, name: str) -> int:
    for kind in ("Rollout", "Deployment"):
        scalers = scale_targets(rendered).get((kind, name))
        if scalers:
            spec = scalers[0]["spec"]
            return int(spec.get("minReplicas", spec.get("minReplicaCount", 1)))
    rollout = rendered.find("Rollout", name)
    workload = rollout if rollout is not None else rendered.find("Deployment", name)
    assert workload is not None
    return int(workload["spec"].get("replicas", 1))


def test_pdb_exactly_when_more_than_one_replica(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        name = deployment["metadata"]["name"]
        pdb = rendered.find("PodDisruptionBudget", name)
        assert (pdb is not None) == (minimum_replicas(rendered, name) > 1), name
        if pdb is not None:
            assert labels_match(
                pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
            )


# --- canary --------------------------------------------------------------------------------------


def test_rollouts_take_over_an_existing_deployment(rendered: Render) -> None:
    for rollout in rendered.of_kind("Rollout"):
        ref = rollout["spec"]["workloadRef"]
        assert ref["kind"] == "Deployment" and ref["apiVersion"] == "apps/v1"
        deployment = rendered.find("Deployment", ref["name"])
        assert deployment is not None, ref
        assert rollout["spec"]["selector"] == deployment["spec"]["selector"]
        assert "template" not in rollout["spec"], "the Deployment is the single pod template"
        canary = rollout["spec"]["strategy"]["canary"]
        for key in ("stableService", "canaryService"):
            service = rendered.find("Service", canary[key])
            assert service is not None, canary[key]
            assert labels_match(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])
        kinds = {next(iter(step)) for step in canary["steps"]}
        assert {"setWeight", "analysis"} <= kinds
        for step in canary["steps"]:
            if "analysis" in step:
                for template in step["analysis"]["templates"]:
                    assert rendered.find("AnalysisTemplate", template["templateName"]) is not None
                assert step["analysis"]["args"] == [
                    {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
                ]
        plugins = canary.get("trafficRouting", {}).get("plugins", {})
        if plugins:
            route = plugins["argoproj-labs/gatewayAPI"]["grpcRoute"]
            grpc_route = rendered.find("GRPCRoute", route)
            assert grpc_route is not None
            backends = {b["name"] for rule in grpc_route["spec"]["rules"] for b in rule["backendRefs"]}
            assert backends == {canary["stableService"], canary["canaryService"]}


def test_analysis_queries_the_canarys_own_red_metrics(rendered: Render) -> None:
    for rollout in rendered.of_kind("Rollout"):
        name = rollout["metadata"]["name"]
        template = rendered.find("AnalysisTemplate", f"{name}-red")
        assert template is not None
        service = service_name(rollout)
        proto_service = {
            "gateway": "shop.storefront.v1.StorefrontService",
        }.get(service, f"shop.{service}.v1.{service.capitalize()}Service")
        queries = {m["name"]: m["provider"]["prometheus"]["query"] for m in template["spec"]["metrics"]}
        assert "grpc_server_handled_total" in queries["error-rate"]
        assert "grpc_server_handling_seconds_bucket" in queries["p99-latency"]
        for query in queries.values():
            assert f'grpc_service="{proto_service}"' in query
            assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in query
            assert f'namespace="{rendered.namespace}"' in query
        # The hash label reaches Prometheus only through the ServiceMonitor's podTargetLabels.
        monitor = rendered.find("ServiceMonitor", name)
        assert monitor is not None and "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]


def test_analysis_thresholds_are_numbers() -> None:
    rendered = render_set("canary")
    for template in rendered.of_kind("AnalysisTemplate"):
        for metric in template["spec"]["metrics"]:
            threshold = metric["successCondition"].rsplit("<=", 1)[1]
            assert math.isfinite(float(threshold)), metric["successCondition"]


# --- network policies ----------------------------------------------------------------------------


def pod_endpoint(rendered: Render, name: str) -> Endpoint:
    deployment = rendered.find("Deployment", name)
    assert deployment is not None, name
    return Endpoint(deployment["spec"]["template"]["metadata"]["labels"], rendered.namespace)


def service_endpoint(rendered: Render, host: str, port: int) -> tuple[Endpoint, int]:
    """The pods behind a Service and the container port that Service port leads to."""
    service = rendered.find("Service", host)
    assert service is not None, host
    selector = service["spec"]["selector"]
    entry = next((p for p in service["spec"]["ports"] if p["port"] == port), None)
    assert entry is not None, f"{host} has no port {port}"
    target = entry.get("targetPort", port)
    if isinstance(target, str):  # a named port: look it up on the pods the Service selects
        pods = [
            d
            for d in rendered.of_kind("Deployment")
            if labels_match(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert pods, f"{host} selects no pods"
        target = container_port(main_container(pods[0]), target)
    return Endpoint(selector, rendered.namespace), int(target)


def test_default_deny_with_network_policies(rendered: Render) -> None:
    deny = [
        p
        for p in rendered.policies()
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    assert len(deny) == 1
    assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_network_policies_allow_every_configured_connection(rendered: Render) -> None:
    policies = rendered.policies()
    dns_ns = Endpoint({"k8s-app": "kube-dns"}, "kube-system")
    for deployment in rendered.service_deployments():
        name = deployment["metadata"]["name"]
        source = pod_endpoint(rendered, name)
        env = env_of(main_container(deployment))
        assert allowed(policies, source, dns_ns, 53, "UDP"), f"{name}: DNS"
        for key, entry in env.items():
            value = entry.get("value", "")
            if key.endswith("_ADDR") or (key == "PAYMENT_PROVIDER_URL" and ".svc.cluster.local" in value):
                url = urlsplit(value.replace("dns:///", "grpc://"))
                host = str(url.hostname).split(".")[0]
                destination, port = service_endpoint(rendered, host, int(url.port or 0))
                assert allowed(policies, source, destination, port), f"{name} -> {key}={value}"
                # ... and only there: an unrelated port stays closed.
                assert not allowed(policies, source, destination, 1), f"{name} -> {host}:1 is open"
        if "NATS_URL" in env:
            url = urlsplit(env["NATS_URL"]["value"])
            nats = Endpoint({"app.kubernetes.io/name": "nats"}, str(url.hostname).split(".")[1])
            assert allowed(policies, source, nats, int(url.port or 4222)), f"{name} -> NATS"
        if env["OTEL_EXPORTER_OTLP_ENDPOINT"].get("value"):
            url = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"])
            collector = Endpoint({"app.kubernetes.io/name": "otel-collector"}, str(url.hostname).split(".")[1])
            assert allowed(policies, source, collector, int(url.port or 4317)), f"{name} -> collector"
        secret = env.get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name", "")
        cluster = secret.removesuffix("-app")
        if rendered.find("Cluster", cluster) is not None:
            database = Endpoint({"cnpg.io/cluster": cluster, "cnpg.io/podRole": "instance"}, rendered.namespace)
            assert allowed(policies, source, database, 5432), f"{name} -> its database"
            job = rendered.find("Job", f"{name}-migrate")
            assert job is not None
            migrate = Endpoint(job["spec"]["template"]["metadata"]["labels"], rendered.namespace)
            assert allowed(policies, migrate, database, 5432), f"{name} migrations -> its database"
            for other in rendered.of_kind("Cluster"):
                if other["metadata"]["name"] != cluster:
                    foreign = Endpoint({"cnpg.io/cluster": other["metadata"]["name"]}, rendered.namespace)
                    assert not allowed(policies, source, foreign, 5432), f"{name} reaches {other['metadata']['name']}"


def test_prometheus_reaches_the_metrics_ports(rendered: Render) -> None:
    prometheus = Endpoint({"app.kubernetes.io/name": "prometheus"}, "monitoring")
    for deployment in rendered.service_deployments():
        container = main_container(deployment)
        ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
        port = ports["metrics"] if "metrics" in ports else ports["http"]
        assert allowed(rendered.policies(), prometheus, pod_endpoint(rendered, deployment["metadata"]["name"]), port)


def test_only_the_gateway_is_reachable_from_the_ingress_controller(rendered: Render) -> None:
    controller = Endpoint({"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
    for deployment in rendered.service_deployments():
        container = main_container(deployment)
        port = container["ports"][0]["containerPort"]
        reachable = allowed(
            rendered.policies(), controller, pod_endpoint(rendered, deployment["metadata"]["name"]), port
        )
        assert reachable == (service_name(deployment) == "gateway"), deployment["metadata"]["name"]


def test_helm_test_pods_can_reach_what_they_check(rendered: Render) -> None:
    for pod in rendered.of_kind("Pod"):
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        command = pod["spec"]["containers"][0]["command"]
        target = next(arg for arg in command if ".svc.cluster.local" in arg)
        url = urlsplit(target if "://" in target else f"grpc://{target}")
        destination, port = service_endpoint(rendered, str(url.hostname).split(".")[0], int(url.port or 0))
        source = Endpoint(pod["metadata"]["labels"], rendered.namespace)
        assert allowed(rendered.policies(), source, destination, port), target
