"""The gateway's NetworkPolicy admits exactly the entry points the values configure: the ingress
controller for an Ingress, the Gateway API proxies of the routes' parent Gateways (HTTP port for an
HTTPRoute, gRPC port for a GRPCRoute), and nobody else from outside the release."""

from __future__ import annotations

from typing import Any

import pytest

from shop_deploycheck.manifests import Endpoint, Render, allowed, render_set
from shop_deploycheck.render import render

HTTP, GRPC = "http", "grpc"
NGINX = Endpoint({"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
GATEWAY_SYSTEM = Endpoint({"app.kubernetes.io/name": "public-gateway"}, "gateway-system")
GRPC_EDGE = Endpoint({"app.kubernetes.io/name": "grpc-edge"}, "edge")
ENVOY = Endpoint({"gateway.envoyproxy.io/owning-gateway-name": "public"}, "envoy-gateway-system")
ENVOY_OTHER = Endpoint({"app.kubernetes.io/name": "something-else"}, "envoy-gateway-system")
STRANGER = Endpoint({"app.kubernetes.io/name": "stranger"}, "default")
CANDIDATES = {
    "nginx": NGINX,
    "gateway-system": GATEWAY_SYSTEM,
    "edge": GRPC_EDGE,
    "envoy": ENVOY,
    "envoy-other": ENVOY_OTHER,
    "stranger": STRANGER,
}
ROUTE = {"hostnames": ["api.shop.example.com"]}


def reach(rendered: Render) -> set[tuple[str, str]]:
    """(candidate, port name) pairs the policies let through to the gateway's pods."""
    deployment = rendered.find("Deployment", f"{rendered.release}-gateway")
    assert deployment is not None
    pod = Endpoint(deployment["spec"]["template"]["metadata"]["labels"], rendered.namespace)
    ports = {p["name"]: p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    return {
        (name, port)
        for name, source in CANDIDATES.items()
        for port in (HTTP, GRPC, "metrics")
        if allowed(rendered.policies(), source, pod, ports[port])
    }


def rendered_with(values: dict[str, Any]) -> Render:
    return Render("entry-points", (), render(values=values))


def routes(http_parents: list[dict[str, str]], grpc_parents: list[dict[str, str]]) -> dict[str, Any]:
    gateway: dict[str, Any] = {}
    if http_parents:
        gateway["httpRoute"] = {"enabled": True, **ROUTE, "parentRefs": http_parents}
    if grpc_parents:
        gateway["grpcRoute"] = {"enabled": True, **ROUTE, "parentRefs": grpc_parents}
    return gateway


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            {"gateway": {"ingress": {"enabled": True}}}, {("nginx", HTTP), ("nginx", GRPC)}, id="ingress only"
        ),
        pytest.param(
            {"gateway": routes([{"name": "public", "namespace": "gateway-system"}], [])},
            {("gateway-system", HTTP)},
            id="HTTPRoute only",
        ),
        pytest.param(
            {
                "gateway": routes(
                    [{"name": "public", "namespace": "gateway-system"}], [{"name": "grpc", "namespace": "edge"}]
                )
            },
            {("gateway-system", HTTP), ("edge", GRPC)},
            id="routes to two Gateways",
        ),
        pytest.param(
            {
                "gateway": {
                    "ingress": {"enabled": True},
                    **routes([{"name": "public", "namespace": "gateway-system"}], []),
                },
            },
            {("nginx", HTTP), ("nginx", GRPC), ("gateway-system", HTTP)},
            id="ingress and a route",
        ),
        pytest.param(
            {
                "gateway": routes(
                    [{"name": "public", "namespace": "gateway-system"}],
                    [{"name": "public", "namespace": "gateway-system"}],
                ),
                # Envoy Gateway runs a Gateway's proxies in its own namespace, not the Gateway's.
                "networkPolicy": {
                    "gatewayAPI": {
                        "namespaceLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"},
                        "podLabels": {"gateway.envoyproxy.io/owning-gateway-name": "public"},
                    }
                },
            },
            {("envoy", HTTP), ("envoy", GRPC)},
            id="proxies elsewhere",
        ),
        pytest.param(
            {"gateway": routes([{"name": "mesh-gateway"}], [])},
            set(),  # the parent is in the release's namespace: its proxies are no outside pod
            id="parent in the release namespace",
        ),
        pytest.param({}, {("nginx", HTTP), ("nginx", GRPC)}, id="nothing the chart routes"),
    ],
)
def test_the_gateway_admits_exactly_the_configured_entry_points(
    values: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    assert reach(rendered_with(values)) == expected


def test_a_route_parent_in_the_release_namespace_is_admitted() -> None:
    rendered = rendered_with({"gateway": routes([{"name": "mesh-gateway"}], [])})
    proxy = Endpoint({"app.kubernetes.io/name": "mesh-gateway-proxy"}, rendered.namespace)
    deployment = rendered.find("Deployment", "shop-gateway")
    assert deployment is not None
    pod = Endpoint(deployment["spec"]["template"]["metadata"]["labels"], rendered.namespace)
    # The proxy's own namespace is under the default deny: its egress is the operator's to open.
    ingress_only = [p for p in rendered.policies() if p["metadata"]["name"] == "shop-gateway"]
    assert allowed(ingress_only, proxy, pod, 8080)
    assert not allowed(ingress_only, proxy, pod, 9090)


def test_production_values_admit_their_ingress_and_their_gateway() -> None:
    """production-values.yaml attaches an Ingress (nginx) and both routes to gateway-system."""
    assert reach(render_set("production")) == {
        ("nginx", HTTP),
        ("nginx", GRPC),
        ("gateway-system", HTTP),
        ("gateway-system", GRPC),
    }
