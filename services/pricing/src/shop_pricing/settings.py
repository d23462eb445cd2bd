"""Settings of the pricing service (environment variables; `shop-pricing settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shopkit.feeds import FeedSettings


class PricingSettings(FeedSettings):
    service_name: str = Field("pricing", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50052, description="gRPC port")
    metrics_port: int = Field(9102, description="Prometheus /metrics port; 0 disables it")
    default_currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$", description="currency of price reads whose customer context names none"
    )
    reference_currency: str = Field(
        "USD",
        pattern=r"^[A-Z]{3}$",
        description="currency a SKU's base price is converted from when it has none in the requested currency",
    )
    max_lines: int = Field(500, ge=1, le=5000, description="lines one Quote or GetPrices call may price")
    max_batch: int = Field(1000, ge=1, le=10000, description="items one admin batch write may carry")
