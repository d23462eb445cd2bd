"""Settings of the inventory service (environment variables; `shop-inventory settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shopkit.feeds import FeedSettings


class InventorySettings(FeedSettings):
    service_name: str = Field(
        "inventory", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry"
    )
    grpc_port: int = Field(50055, description="gRPC port")
    metrics_port: int = Field(9105, description="Prometheus /metrics port; 0 disables it")
    reservation_default_ttl_seconds: float = Field(
        900.0, gt=0, description="how long Reserve holds stock when the request sets no ttl"
    )
    reservation_max_ttl_seconds: float = Field(
        7 * 24 * 3600.0, gt=0, description="the longest ttl Reserve accepts (B2B orders may wait for approval)"
    )
    allocation_ship_from_stores: bool = Field(
        True, description="ship reservations may take stock from stores, not only from warehouses"
    )
    allocation_warehouses_first: bool = Field(
        True, description="ship allocation uses every warehouse before any store; false: priority order only"
    )
    default_low_stock_threshold: int = Field(
        5, ge=0, description="low-stock threshold of SKUs that have none of their own"
    )
    sweeper_enabled: bool = Field(True, description="run the worker that expires overdue reservations")
    sweeper_interval_seconds: float = Field(1.0, gt=0, description="pause between sweeps when nothing is overdue")
    sweeper_batch_size: int = Field(100, ge=1, le=1000, description="reservations expired per sweeper transaction")
