"""Settings of the cart service (environment variables; `shop-cart settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shopkit.settings import ServiceSettings


class CartSettings(ServiceSettings):
    service_name: str = Field("cart", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50053, description="gRPC port")
    metrics_port: int = Field(9103, description="Prometheus /metrics port; 0 disables it")
    catalog_addr: str = Field("localhost:50051", description="gRPC address of the catalog service")
    pricing_addr: str = Field("localhost:50052", description="gRPC address of the pricing service")
    inventory_addr: str = Field("localhost:50055", description="gRPC address of the inventory service")
    max_line_quantity: int = Field(99, ge=1, le=1_000_000, description="largest quantity of one cart line")
    max_lines: int = Field(50, ge=1, le=200, description="most lines (distinct SKUs) one cart may hold")
    price_snapshot_ttl_seconds: float = Field(
        900.0, gt=0, description="how long a cart's price snapshot is valid before reads re-price it"
    )
    cart_idle_ttl_seconds: float = Field(
        7 * 24 * 3600.0, gt=0, description="inactivity after which the sweeper marks an active cart ABANDONED"
    )
    request_retention_seconds: float = Field(
        2 * 24 * 3600.0,
        gt=0,
        description="how long AddCartLine request ids are kept to recognise retries; the sweeper deletes older ones",
    )
    sweeper_enabled: bool = Field(
        True, description="run the workers that mark idle carts ABANDONED and delete expired request ids"
    )
    sweeper_interval_seconds: float = Field(60.0, gt=0, description="pause between sweeps when nothing was due")
    sweeper_batch_size: int = Field(
        100, ge=1, le=1000, description="carts abandoned / request ids deleted per sweeper transaction"
    )
