"""Settings of the notifications service (environment variables; `shop-notifications settings` lists them)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shopkit.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = Field(
        "notifications", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry"
    )
    grpc_port: int = Field(50058, description="gRPC port")
    metrics_port: int = Field(9109, description="Prometheus /metrics port; 0 disables it")
    order_addr: str = Field("localhost:50056", description="gRPC address of the order service (GetOrder)")

    smtp_host: str = Field("localhost", description="SMTP server (locally: the catcher of `shop-dev run`)")
    smtp_port: int = Field(1025, ge=1, le=65535, description="SMTP port (587 with STARTTLS, 465 with SMTP_TLS)")
    smtp_username: str = Field("", description="SMTP user; empty: no authentication")
    smtp_password: str = Field("", description="SMTP password (from a Secret in Kubernetes)")
    smtp_starttls: bool = Field(False, description="upgrade the connection with STARTTLS (required, not opportunistic)")
    smtp_tls: bool = Field(False, description="implicit TLS from the first byte (port 465); excludes SMTP_STARTTLS")
    smtp_timeout_seconds: float = Field(15.0, gt=0, description="timeout of connecting and of each SMTP command")
    smtp_idle_seconds: float = Field(
        30.0, ge=0, description="how long an SMTP session is kept open for the next mail; 0: one session per mail"
    )
    mail_from: str = Field("Shop <orders@shop.example>", description="the From header and envelope sender")
    approvals_to: str = Field(
        "approvals@shop.example",
        description="who receives approval-needed mails for B2B accounts without an entry in APPROVERS",
    )
    approvers: dict[str, str] = Field(
        {}, description='approval-needed mails per B2B account id, e.g. {"acct-1": "buyer-admin@acme.test"}'
    )
    storefront_url: str = Field(
        "http://localhost:8080", description="base URL named in mails (links to the order, the approval queue)"
    )

    max_attempts: int = Field(8, ge=1, le=100, description="SMTP attempts of a mail before it is marked failed")
    retry_base_seconds: float = Field(5.0, gt=0, description="pause after the first failed attempt; doubles each time")
    retry_max_seconds: float = Field(3600.0, gt=0, description="longest pause between two attempts")
    send_lease_seconds: float = Field(
        120.0, gt=0, description="a claimed mail not marked sent within this is tried again (a sender that died)"
    )
    sender_enabled: bool = Field(True, description="run the worker that sends pending mails")
    sender_concurrency: int = Field(4, ge=1, le=64, description="mails sent at once")
    sender_poll_seconds: float = Field(2.0, gt=0, description="how often the sender looks for due mails when not woken")
    retention_days: float = Field(
        90.0, ge=0, description="sent and failed mails older than this are deleted (support's window); 0: kept"
    )
    stale_event_hours: float = Field(
        72.0,
        ge=0,
        description="events older than this make no mail (a new consumer reads the whole order stream); 0: no limit",
    )

    webhooks_enabled: bool = Field(True, description="consume events into webhook deliveries and send them")
    webhook_max_attempts: int = Field(
        10, ge=1, le=100, description="POSTs of a webhook delivery before it is dead (replayable through the API)"
    )
    webhook_retry_base_seconds: float = Field(
        10.0, gt=0, description="pause after a delivery's first failed attempt; doubles each time, with jitter"
    )
    webhook_retry_max_seconds: float = Field(3600.0, gt=0, description="longest pause between two webhook attempts")
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60, description="timeout of one webhook POST")
    webhook_lease_seconds: float = Field(
        120.0, gt=0, description="a claimed delivery not recorded within this is sent again (a sender that died)"
    )
    webhook_concurrency: int = Field(8, ge=1, le=64, description="webhook POSTs at once")
    webhook_poll_seconds: float = Field(2.0, gt=0, description="how often the webhook sender looks for due deliveries")
    webhook_retention_days: float = Field(
        30.0, ge=0, description="delivered and dead deliveries (and their log) older than this are deleted; 0: kept"
    )
    webhook_allow_private_targets: bool = Field(
        False,
        description="development only: allow webhook URLs on loopback/private addresses (and http to loopback)",
    )

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Self:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("SMTP_TLS and SMTP_STARTTLS exclude each other")
        return self
