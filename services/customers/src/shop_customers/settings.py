"""Settings of the customers service (environment variables; `shop-customers settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shop_payments.settings import PaymentSettings
from shopkit.settings import ServiceSettings


class CustomersSettings(ServiceSettings, PaymentSettings):
    service_name: str = Field(
        "customers", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry"
    )
    grpc_port: int = Field(50059, description="gRPC port")
    metrics_port: int = Field(9110, description="Prometheus /metrics port; 0 disables it")
