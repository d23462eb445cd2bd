"""Settings of the checkout service (environment variables; `shop-checkout settings` lists them)."""

from __future__ import annotations

import socket
from typing import Self

from pydantic import Field, model_validator

from shop_payments.settings import PaymentSettings
from shopkit.settings import ServiceSettings


class CheckoutSettings(ServiceSettings, PaymentSettings):
    service_name: str = Field("checkout", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50054, description="gRPC port")
    metrics_port: int = Field(9104, description="Prometheus /metrics port; 0 disables it")

    # peers
    cart_addr: str = Field("localhost:50053", description="gRPC address of the cart service")
    pricing_addr: str = Field("localhost:50052", description="gRPC address of the pricing service")
    inventory_addr: str = Field("localhost:50055", description="gRPC address of the inventory service")
    order_addr: str = Field("localhost:50056", description="gRPC address of the order service")
    fraud_addr: str = Field("localhost:50057", description="gRPC address of the fraud service")
    catalog_addr: str = Field("localhost:50051", description="gRPC address of the catalog service (lines' categories)")
    customers_addr: str = Field(
        "localhost:50059", description="gRPC address of the customers service (B2B approval chains)"
    )
    # the saga
    place_order_wait_seconds: float = Field(
        8.0, ge=0, description="how long PlaceOrder waits for the saga before it answers RUNNING (client polls)"
    )
    deadline_margin_seconds: float = Field(
        0.5, ge=0, description="PlaceOrder answers this long before the caller's deadline"
    )
    step_max_attempts: int = Field(
        5, ge=1, description="least tries of a step before CREATE_ORDER before it fails for good (transient errors)"
    )
    step_retry_budget_seconds: float = Field(
        60.0,
        ge=0,
        description="how long a step before CREATE_ORDER keeps retrying transient errors (a peer restarting) "
        "before the checkout fails as UNAVAILABLE; the same idempotency key then runs it again",
    )
    retry_initial_seconds: float = Field(0.1, gt=0, description="first pause between retries of a step")
    retry_max_seconds: float = Field(5.0, gt=0, description="longest pause between retries of a step")
    capture_on_checkout: bool = Field(
        True, description="capture card payments when the order is confirmed; false: leave authorised (fulfilment)"
    )
    reservation_ttl_seconds: int = Field(900, ge=60, description="stock reservation ttl of a checkout without a hold")
    review_hold_seconds: int = Field(
        24 * 3600, ge=60, description="how long a checkout waits for a fraud review before it is cancelled"
    )
    approval_hold_seconds: int = Field(
        3 * 24 * 3600, ge=60, description="how long a checkout waits for a B2B approval before it is cancelled"
    )
    approval_stock_hold_seconds: int = Field(
        6 * 24 * 3600,
        ge=1,
        description="an approval hold keeps the stock reserved at most this long (past it the order re-reserves "
        "its lines when the last approval arrives, or is cancelled when they are gone); with hold_margin_seconds "
        "within inventory's RESERVATION_MAX_TTL_SECONDS (7 days)",
    )
    hold_margin_seconds: int = Field(
        3600, ge=0, description="reservations of held checkouts outlive the holds by this much"
    )
    action_timeout_seconds: float = Field(
        600.0,
        gt=0,
        description="how long a checkout waits for the customer to complete the payment's authentication (3-D "
        "Secure, status ACTION_REQUIRED) before it voids the authorisation and fails as ACTION_EXPIRED; keep it "
        "below RESERVATION_TTL_SECONDS (the stock is held meanwhile)",
    )
    action_poll_seconds: float = Field(
        5.0,
        gt=0,
        description="how often a checkout waiting for the customer's action asks the provider whether it was "
        "completed (a client repeating PlaceOrder makes it ask at once)",
    )
    allow_split_shipments: bool = Field(True, description="a shipped line may be taken from several warehouses")

    # recovery
    instance_name: str = Field(
        default_factory=socket.gethostname,
        description="this replica's stable name (the pod name); a restart claims its own unfinished sagas at once",
    )
    lease_seconds: float = Field(
        30.0, gt=0, description="a saga's lease: another replica takes over a saga whose runner stopped renewing"
    )
    recovery_interval_seconds: float = Field(
        1.0, gt=0, description="how often the recovery worker looks for unleased sagas and expired holds"
    )
    recovery_batch_size: int = Field(50, ge=1, description="sagas claimed per recovery round")

    # fault injection (tests only)
    fault_crash_at: str = Field(
        "",
        description="tests only: kill the process with SIGKILL at a saga point, e.g. after:authorise_payment "
        "(before:<step>, after:<step>, after:undo:<step>); empty disables it",
    )
    fault_crash_armed_file: str = Field(
        "",
        description="tests only: with FAULT_CRASH_AT, crash only while this file exists; it is deleted just before "
        "the crash, so one arming gives one crash and the restarted process recovers; empty: crash every time",
    )

    @model_validator(mode="after")
    def _action_within_reservation(self) -> Self:
        # The reservation is made before the provider asks for an action; it must outlive the wait.
        if self.action_timeout_seconds >= self.reservation_ttl_seconds:
            raise ValueError("ACTION_TIMEOUT_SECONDS must be below RESERVATION_TTL_SECONDS")
        return self
