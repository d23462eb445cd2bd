"""Settings from environment variables: one object per service, the same names the Helm chart sets.

Every service subclasses `ServiceSettings` and adds its own fields. Names are plain upper-case
environment variables (`GRPC_PORT`, `DATABASE_URL`, ...) because each process has its own env.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# gRPC's own default for received messages, now also the bound of sent ones (gRPC sets none).
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Request bodies of the HTTP APIs are small JSON documents; a megabyte leaves room for admin writes.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# The request line and headers together (also h11's own default for a header block in flight).
DEFAULT_MAX_HEADER_BYTES = 16 * 1024


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    service_name: str = Field("shop", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_host: str = Field("0.0.0.0", description="address the gRPC server binds")
    grpc_port: int = Field(50051, description="gRPC port")
    health_port: int = Field(
        0,
        description="plain-text port serving only grpc.health.v1, for probes that cannot present a certificate; 0: off",
    )
    tls_cert_file: str = Field("", description="PEM certificate of this process (its Common Name is its identity)")
    tls_key_file: str = Field("", description="PEM private key of TLS_CERT_FILE")
    tls_ca_file: str = Field(
        "", description="PEM CA that signs every peer; with the two above: mutual TLS on every server and channel"
    )
    metrics_host: str = Field("0.0.0.0", description="address the Prometheus endpoint binds")
    metrics_port: int = Field(9464, description="Prometheus /metrics port; 0 disables it")
    database_url: str = Field(
        "postgresql+asyncpg://postgres@localhost:5432/postgres", description="SQLAlchemy URL of the service's database"
    )
    db_pool_size: int = Field(10, description="connections kept in the pool")
    db_max_overflow: int = Field(10, description="extra connections under burst")
    nats_url: str = Field("nats://localhost:4222", description="NATS server(s), comma separated")
    shutdown_grace_seconds: float = Field(
        20.0, description="on SIGTERM, how long in-flight calls may run before they are cancelled"
    )
    max_connection_age_seconds: float = Field(
        300.0, description="server closes client connections after this age so clients re-resolve DNS"
    )
    log_level: str = Field("INFO", description="root log level")
    log_format: str = Field("json", description="json or text")
    otel_exporter_otlp_endpoint: str = Field("", description="OTLP gRPC endpoint; empty disables export")
    outbox_poll_interval_seconds: float = Field(0.2, description="how often the relay looks for unsent events")
    outbox_batch_size: int = Field(200, description="events published per relay round")
    inbox_retention_hours: float = Field(
        192.0, description="inbox rows older than this are deleted (beyond the streams' 7-day max age)"
    )
    consumer_max_deliver: int = Field(5, description="deliveries before a message goes to the dead-letter stream")
    default_call_timeout_seconds: float = Field(5.0, description="deadline of outgoing calls when the caller set none")
    grpc_max_receive_message_bytes: int = Field(
        DEFAULT_MAX_MESSAGE_BYTES,
        ge=1024,
        description="largest gRPC message the server accepts (a larger one is refused RESOURCE_EXHAUSTED)",
    )
    grpc_max_send_message_bytes: int = Field(
        DEFAULT_MAX_MESSAGE_BYTES, ge=1024, description="largest gRPC message the server sends"
    )


class HttpServiceSettings(ServiceSettings):
    """A process that serves HTTP (the gateway, the payment sandbox): the bounds of one request."""

    max_request_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1, description="largest HTTP request body; a larger one is 413 before it is read"
    )
    max_request_header_bytes: int = Field(
        DEFAULT_MAX_HEADER_BYTES,
        ge=1024,
        description="largest HTTP request line and headers together; a larger request is 431 (400 while in flight)",
    )
    # Above the idle timeout of any proxy or client pool in front (ingress-nginx's upstream keep-alive
    # and cloud load balancers keep 60 s): a server that closes first races the next request on the
    # connection, and a POST lost that way is not retried.
    http_keepalive_seconds: int = Field(
        75, ge=1, description="an idle HTTP connection is closed after this many seconds"
    )
