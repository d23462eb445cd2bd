"""The HTTP surface itself: the OpenAPI document and docs page, probes, RED metrics, and one trace
from the gateway's server span into the services it called."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.routing import APIRoute
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from shop_gateway.httpapi import routes
from shopkit import tracing

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory


async def test_openapi_document_has_every_route(gateway: Client) -> None:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    routers = (
        routes.browse,
        routes.carts,
        routes.buying,
        routes.decisions,
        routes.administration,
        routes.probes,
        routes.dev,
    )
    api_routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    assert len(api_routes) >= 30
    for route in api_routes:
        for method in route.methods or ():
            assert method.lower() in document["paths"].get(route.path, {}), f"{method} {route.path} is undocumented"
    for path in ("/v1/products", "/v1/checkout", "/v1/orders/{order_id}/cancel", "/v1/auth/token", "/readyz"):
        assert path in document["paths"]
    checkout = document["paths"]["/v1/checkout"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in checkout["parameters"])
    assert "application/problem+json" in checkout["responses"]["4XX"]["content"]
    assert "bearer" in str(document["components"]["securitySchemes"]).lower()
    docs = await gateway.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_probes(gateway: Client, make_gateway: GatewayFactory) -> None:
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok", "backends": {}}
    # The shared gateway has cart, checkout, order, fraud and notifications configured but not running.
    response = await gateway.http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready"}  # which backends: on the metrics port only
    async with make_gateway(
        cart_addr="", checkout_addr="", order_addr="", fraud_addr="", notifications_addr="", customers_addr=""
    ) as client:
        response = await client.http.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ready"}


async def test_red_metrics_per_route_template(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(100,), stock=(1,))
    labels = {"method": "GET", "route": "/v1/products/{product_id}", "status": "200"}
    before = REGISTRY.get_sample_value("http_server_requests_total", labels) or 0.0
    for _ in range(3):
        assert (await gateway.http.get(f"/v1/products/{seeded.product_id}")).status_code == 200
    assert REGISTRY.get_sample_value("http_server_requests_total", labels) == before + 3
    latency = {"method": "GET", "route": "/v1/products/{product_id}"}
    assert (REGISTRY.get_sample_value("http_server_request_duration_seconds_count", latency) or 0) >= 3
    await gateway.http.get("/no/such/path/12345")
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert (REGISTRY.get_sample_value("http_server_requests_total", unmatched) or 0) >= 1


async def test_one_trace_spans_the_gateway_and_the_services_it_calls(gateway: Client) -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("gateway-test", exporter=exporter)
    seeded = await gateway.seed_product(prices=(100,), stock=(1,))
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = await gateway.http.get(
        f"/v1/products/{seeded.product_id}", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
    )
    assert response.status_code == 200
    provider.force_flush()
    spans = [s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
    # One server span per request (FastAPI's own telemetry would add a second one).
    [server] = [s for s in spans if s.kind is SpanKind.SERVER and s.name == "GET /v1/products/{product_id}"]
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == parent_id
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    names = {(s.name, s.kind) for s in spans}
    for rpc in (
        "shop.catalog.v1.CatalogService/GetProduct",
        "shop.pricing.v1.PricingService/GetPrices",
        "shop.inventory.v1.InventoryService/GetAvailability",
    ):
        assert (rpc, SpanKind.CLIENT) in names  # the gateway's call
        assert (rpc, SpanKind.SERVER) in names  # the service's side, in the same trace
