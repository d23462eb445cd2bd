"""Settings of the catalog service (environment variables; `shop-catalog settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shopkit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    service_name: str = Field("catalog", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50051, description="gRPC port")
    metrics_port: int = Field(9101, description="Prometheus /metrics port; 0 disables it")
    import_chunk_size: int = Field(
        1000, ge=1, le=5000, description="products written per transaction by ImportProducts"
    )
    import_max_reported_errors: int = Field(
        1000, ge=0, description="failed lines ImportProducts describes in its summary (all are counted)"
    )
    product_cache_seconds: float = Field(
        1.0, ge=0, description="how long GetProduct answers are kept in memory (other replicas' writes show within it)"
    )
    product_cache_max_entries: int = Field(10_000, ge=0, description="GetProduct answers kept; 0 turns the cache off")
    batch_get_max_skus: int = Field(500, ge=1, description="SKUs one BatchGetVariants call may ask for")
