"""RED metrics on a Prometheus endpoint, named like go-grpc-prometheus so standard dashboards work."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SERVER_STARTED = Counter(
    "grpc_server_started_total", "RPCs started on the server.", ["grpc_type", "grpc_service", "grpc_method"]
)
SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
SERVER_LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
CLIENT_HANDLED = Counter(
    "grpc_client_handled_total",
    "RPCs completed by this process as a client, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
CLIENT_LATENCY = Histogram(
    "grpc_client_handling_seconds",
    "Time of outgoing RPCs until their status.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
OUTBOX_PUBLISHED = Counter("shop_outbox_published_total", "Events relayed from the outbox to JetStream.", ["subject"])
OUTBOX_LAG = Histogram(
    "shop_outbox_lag_seconds",
    "Time from the state change to the event's acknowledgement by JetStream.",
    buckets=LATENCY_BUCKETS,
)
EVENTS_CONSUMED = Counter(
    "shop_events_consumed_total",
    "Events handled by a consumer: applied, duplicate (seen in the inbox), retried or dead_lettered.",
    ["consumer", "subject", "outcome"],
)


def start_metrics_server(port: int, host: str = "0.0.0.0") -> None:
    if port:
        start_http_server(port, addr=host)


def split_method(full_method: str) -> tuple[str, str]:
    """'/shop.catalog.v1.CatalogService/GetProduct' -> ('shop.catalog.v1.CatalogService', 'GetProduct')."""
    _, service, method = full_method.split("/", 2) if full_method.count("/") >= 2 else ("", "", full_method)
    return service, method
