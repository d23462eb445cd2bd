"""Settings of the order service (environment variables; `shop-order settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shop_payments.settings import PaymentSettings
from shopkit.settings import ServiceSettings


class OrderSettings(ServiceSettings, PaymentSettings):
    service_name: str = Field("order", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50056, description="gRPC port")
    metrics_port: int = Field(9106, description="Prometheus /metrics port; 0 disables it")
    inventory_addr: str = Field("localhost:50055", description="gRPC address of the inventory service")
    catalog_addr: str = Field(
        "localhost:50051", description="gRPC address of the catalog service (return windows, returnable products)"
    )
    payment_provider_timeout_seconds: float = Field(
        5.0, gt=0, description="timeout of one HTTP call to the payment provider"
    )
    capture_on_fulfilment: bool = Field(
        True, description="capture a still-authorised card payment when the first fulfilment is recorded"
    )
    effects_enabled: bool = Field(
        True, description="run the worker that performs recorded payment and stock operations (capture, void, ...)"
    )
    effects_concurrency: int = Field(2, ge=1, le=32, description="payment/stock operations performed at once")
    effects_poll_interval_seconds: float = Field(
        1.0, gt=0, description="how often the worker looks for due operations when not woken"
    )
    effects_max_attempts: int = Field(
        30, ge=1, description="attempts of a payment/stock operation before it is marked failed for an operator"
    )
    effects_retry_window_seconds: float = Field(
        24 * 3600.0,
        ge=0,
        description="an operation failing for a reason that may pass (the provider or inventory unreachable) is "
        "retried this long after it was owed, however many attempts that takes, before it is marked failed",
    )
    effects_max_backoff_seconds: float = Field(300.0, gt=0, description="longest pause between two attempts")
    return_window_days: float = Field(
        30.0,
        ge=0,
        description="days after fulfilment until a fulfilled order is completed; returns follow each product's "
        "own window (catalog), also after completion",
    )
    completion_enabled: bool = Field(True, description="run the worker that completes orders past the return window")
    completion_interval_seconds: float = Field(60.0, gt=0, description="pause between completion sweeps")
    completion_batch_size: int = Field(100, ge=1, le=1000, description="orders completed per sweeper transaction")
