"""Settings of the payment sandbox (environment variables; `shop-sandbox settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shopkit.settings import HttpServiceSettings

# Kit settings that only gRPC/NATS services read: the sandbox is an HTTP service without events,
# and it serves /metrics on its HTTP port. `shop-sandbox settings` leaves them out.
# TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE (the kit's) make HTTP_PORT HTTPS with mutual TLS.
NOT_APPLICABLE = frozenset(
    {
        "grpc_host",
        "grpc_port",
        "metrics_host",
        "metrics_port",
        "nats_url",
        "max_connection_age_seconds",
        "outbox_poll_interval_seconds",
        "outbox_batch_size",
        "consumer_max_deliver",
        "default_call_timeout_seconds",
        "grpc_max_receive_message_bytes",
        "grpc_max_send_message_bytes",
    }
)


class SandboxSettings(HttpServiceSettings):
    service_name: str = Field("sandbox", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    http_host: str = Field(
        "0.0.0.0", description="address the HTTP server binds; without the TLS files only a loopback address"
    )
    http_port: int = Field(
        8090,
        ge=0,
        le=65535,
        description="HTTP port (API, /healthz, /readyz, /metrics; HTTPS with mutual TLS when the TLS files are set); "
        "0 picks one",
    )
    health_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="plain-HTTP port on HTTP_HOST serving only /healthz and /readyz, for probes that do not speak "
        "TLS (the kubelet's); 0: off",
    )
    metrics_port: int = Field(0, description="unused: metrics are served at /metrics on HTTP_PORT")
    sandbox_latency_ms: int = Field(
        0, ge=0, le=60_000, description="added processing time of every API request (not of probes or replays)"
    )
    sandbox_failure_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="share of authorisations that fail with a retryable processing_error (0..1)"
    )
    sandbox_failure_seed: int | None = Field(
        None,
        description="makes injected failures deterministic: a function of (seed, Idempotency-Key, attempt); "
        "unset: random",
    )
    sandbox_fingerprint_key: str = Field(
        "shop-sandbox-dev-fingerprint-key",
        min_length=8,
        description="secret key of the card fingerprint HMAC (also hashes stored request bodies); changing it "
        "changes every fingerprint",
    )
    sandbox_public_url: str = Field(
        "",
        description="base URL of the sandbox's public face as customers' clients reach it (the 3-D Secure "
        "challenge URL of next_action); empty: the URL the request came in on",
    )
    idempotency_wait_ms: int = Field(
        10_000,
        ge=1,
        description="how long a request waits for a concurrent request with the same Idempotency-Key before it "
        "answers 409 request_in_progress",
    )
