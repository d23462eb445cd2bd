"""The chart lints clean, its schema rejects what it should, and it renders for every values set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest

from shop_deploycheck.manifests import VALUE_SETS, Render, render_set
from shop_deploycheck.render import load_values, render

WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_helm_lint_is_clean(chart: Path, value_set: str) -> None:
    report = helm_python.lint(
        chart, load_values(VALUE_SETS[value_set]), strict=True, namespace="shop", kube_version="v1.33.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= WARNING]
    assert not problems, problems
    assert not report["errors"], report["errors"]


def test_every_values_file_passes_the_schema(chart: Path) -> None:
    with helm_python.Chart.load(chart) as loaded:
        for files in VALUE_SETS.values():
            loaded.validate_schema(loaded.merge_values(load_values(files)))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 2}, "replicas"),
        ({"services": {"shipping": {}}}, "shipping"),
        ({"services": {"catalog": {"replica": 2}}}, "replica"),
        ({"defaults": {"autoscaling": {"mode": "hpa", "target": 80}}}, "target"),
        ({"services": {"cart": {"canary": {"analysis": {"maxErrorRatio": 0.1}}}}}, "maxErrorRatio"),
        ({"postgres": {"external": {"catalog": {"secret": "x"}}}}, "secret"),
        ({"networkPolicy": {"dns": {"namespaceLabel": {}}}}, "namespaceLabel"),
        ({"loadgen": {"image": {"name": "x"}}}, "name"),
    ],
)
def test_schema_rejects_unknown_keys(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="additional properties") as failure:
        render(values=values)
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"services": {"catalog": {"replicas": "2"}}}, "/services/catalog/replicas"),
        ({"services": {"catalog": {"replicas": -1}}}, "/services/catalog/replicas"),
        ({"defaults": {"autoscaling": {"mode": "vpa"}}}, "/defaults/autoscaling/mode"),
        ({"postgres": {"mode": "sqlite"}}, "/postgres/mode"),
        ({"securityContext": {"runAsUser": 1000}}, "/securityContext/runAsUser"),
        ({"services": {"order": {"shutdownGraceSeconds": 0}}}, "/services/order/shutdownGraceSeconds"),
        ({"services": {"order": {"env": {"log_level": "x"}}}}, "log_level"),
        ({"services": {"order": {"env": {"LOG_LEVEL": 3}}}}, "/services/order/env/LOG_LEVEL"),
        ({"services": {"checkout": {"canary": {"steps": [{"setWeight": 120}]}}}}, "/services/checkout/canary/steps/0"),
        (
            {"services": {"checkout": {"canary": {"steps": [{"setWeight": 20, "pause": {}}]}}}},
            "/services/checkout/canary/steps/0",
        ),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"environment": "prod"}, "/environment"),
        ({"nats": {"url": "localhost:4222"}}, "/nats/url"),
    ],
)
def test_schema_rejects_wrong_types_and_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as failure:
        render(values=values)
    assert f"'{where}'" in str(failure.value)  # the message names where the problem is


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "environment": "production",
                "services": {"sandbox": {"enabled": True}, "gateway": {"env": {"GATEWAY_DEV_MODE": "false"}}},
            },
            "non-production",
        ),
        ({"environment": "production", "paymentProvider": {"url": "https://pay.example.com"}}, "GATEWAY_DEV_MODE"),
        (
            {"environment": "production", "services": {"gateway": {"env": {"GATEWAY_DEV_MODE": "false"}}}},
            "paymentProvider.url",
        ),
        ({"services": {"catalog": {"replicas": 2, "canary": {"enabled": True}}}}, "serviceMonitor.enabled"),
        (
            {"serviceMonitor": {"enabled": True}, "services": {"catalog": {"canary": {"enabled": True}}}},
            "2 or more replicas",
        ),
        (
            {
                "serviceMonitor": {"enabled": True},
                "services": {"sandbox": {"replicas": 2, "canary": {"enabled": True}}},
            },
            "gRPC services",
        ),
        ({"postgres": {"mode": "external"}}, r"postgres\.external\.[a-z]+ needs secretName or url"),
        ({"services": {"fraud": {"autoscaling": {"mode": "hpa", "minReplicas": 5, "maxReplicas": 2}}}}, "minReplicas"),
        ({"loadgen": {"enabled": True}, "services": {"gateway": {"enabled": False}}}, "enable services.gateway"),
    ],
)
def test_contradictory_values_fail_with_the_reason(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(values=values)


def test_every_values_set_renders_workloads(rendered: Render) -> None:
    assert rendered.service_deployments(), f"{rendered.name}: no service Deployment"
    for manifest in rendered.manifests:
        assert manifest.get("apiVersion") and manifest.get("kind"), manifest
        assert manifest["metadata"].get("name"), manifest


def test_values_sets_cover_the_features() -> None:
    """The ci values sets exist for what CI must exercise: canary, KEDA, CNPG on and off, production."""

    kinds = {name: {m["kind"] for m in render_set(name).manifests} for name in VALUE_SETS}
    assert {"Rollout", "AnalysisTemplate", "GRPCRoute"} <= kinds["canary"]
    assert "ScaledObject" in kinds["keda"]
    assert "Cluster" in kinds["cnpg"]
    assert "Cluster" not in kinds["external"]
    production = render_set("production")
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "Ingress"} <= kinds[
        "production"
    ]
    assert not [d for d in production.service_deployments() if d["metadata"]["name"].endswith("-sandbox")]
