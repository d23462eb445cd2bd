"""Settings of the gateway (environment variables; `shop-gateway settings` lists them)."""

from __future__ import annotations

import ipaddress
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shopkit.settings import HttpServiceSettings

# Fields of ServiceSettings the gateway does not use (it has no database and no NATS connection).
UNUSED_FIELDS = frozenset(
    {
        "database_url",
        "db_pool_size",
        "db_max_overflow",
        "nats_url",
        "outbox_poll_interval_seconds",
        "outbox_batch_size",
        "consumer_max_deliver",
    }
)

# Peers the gateway calls: settings field -> service name.
BACKENDS = ("catalog", "pricing", "inventory", "cart", "checkout", "order", "fraud", "customers", "notifications")


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


class GatewaySettings(HttpServiceSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True)

    service_name: str = Field("gateway", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(9090, description="port of the public gRPC API (StorefrontService)")
    metrics_port: int = Field(9108, description="Prometheus /metrics port; 0 disables it")
    http_host: str = Field("0.0.0.0", description="address the HTTP server binds")
    http_port: int = Field(8080, description="port of the HTTP/JSON API")

    # --- backends ---
    catalog_addr: str = Field("localhost:50051", description="gRPC address of the catalog service")
    pricing_addr: str = Field("localhost:50052", description="gRPC address of the pricing service")
    cart_addr: str = Field("localhost:50053", description="gRPC address of the cart service")
    checkout_addr: str = Field("localhost:50054", description="gRPC address of the checkout service")
    inventory_addr: str = Field("localhost:50055", description="gRPC address of the inventory service")
    order_addr: str = Field("localhost:50056", description="gRPC address of the order service")
    fraud_addr: str = Field("localhost:50057", description="gRPC address of the fraud service")
    notifications_addr: str = Field(
        "localhost:50058", description="gRPC address of the notifications service (a customer's mails: export, erasure)"
    )
    customers_addr: str = Field("localhost:50059", description="gRPC address of the customers service")
    request_timeout_seconds: float = Field(
        5.0, gt=0, description="deadline of one HTTP request: every backend call it makes shares it"
    )
    checkout_timeout_seconds: float = Field(
        15.0, gt=0, description="deadline of PlaceOrder; the saga continues in the background past it"
    )
    readiness_timeout_seconds: float = Field(1.0, gt=0, description="deadline of each backend health check of /readyz")

    # --- authentication ---
    jwks_url: str = Field("", description="JWKS document of the token issuer (required unless GATEWAY_DEV_MODE)")
    jwt_issuer: str = Field("http://localhost:8080", description="expected `iss` claim of access tokens")
    jwt_audience: str = Field("shop", description="expected `aud` claim of access tokens")
    jwt_algorithms: list[str] = Field(["RS256", "ES256"], description="signature algorithms accepted (never none/HS*)")
    jwt_leeway_seconds: int = Field(30, ge=0, description="clock skew tolerated on exp/nbf/iat")
    jwks_cache_seconds: float = Field(300.0, gt=0, description="how long fetched keys are used before a refetch")
    jwks_min_refresh_seconds: float = Field(
        10.0, ge=0, description="shortest pause between two refetches caused by unknown key ids"
    )
    jwt_client_id_claim: str = Field(
        "client_id", description="claim that names a machine client (client-credentials tokens; RFC 9068 client_id)"
    )
    jwt_scope_claim: str = Field(
        "scope", description="claim of a machine client's scopes: space-separated (RFC 9068) or a list; else `scp`"
    )
    machine_client_cache_seconds: float = Field(
        5.0, ge=0, description="dev issuer: how long an integration client's revocation state is cached per replica"
    )
    machine_token_ttl_seconds: int = Field(
        300, gt=0, le=3600, description="dev issuer: lifetime of client-credentials tokens (POST /v1/oauth/token)"
    )
    dev_mode: bool = Field(
        False,
        validation_alias="GATEWAY_DEV_MODE",
        description="local development: a built-in token issuer (POST /v1/auth/token, /.well-known/jwks.json)",
    )
    data_dir: str = Field(
        "",
        validation_alias="GATEWAY_DATA_DIR",
        description="dev mode: folder where the issuer's RSA key is kept across restarts; empty: a new key per start",
    )
    dev_token_ttl_seconds: int = Field(3600, gt=0, description="dev mode: lifetime of issued tokens")
    dev_mode_local_only: bool = Field(
        False,
        validation_alias="GATEWAY_DEV_MODE_LOCAL_ONLY",
        description="dev mode on a non-loopback address: the operator states that only a local network (a kind "
        "cluster, CI) reaches the gateway; without it dev mode needs HTTP_HOST and GRPC_HOST on loopback",
    )

    # --- rate limits (token buckets in this process: the limits are per replica) ---
    rate_limit_enabled: bool = Field(True, description="apply per-client rate limits")
    rate_limit_per_second: float = Field(
        50.0, gt=0, description="sustained requests/s of one signed-in client (subject)"
    )
    rate_limit_burst: int = Field(100, ge=1, description="requests a signed-in client may make at once")
    anonymous_rate_limit_per_second: float = Field(
        200.0, gt=0, description="sustained requests/s of one client IP without a token"
    )
    anonymous_rate_limit_burst: int = Field(400, ge=1, description="requests one client IP may make at once")
    rate_limit_max_clients: int = Field(100_000, ge=1, description="buckets kept; the least recently used go first")

    # --- the public read cache (anonymous browse answers; see shop_gateway/public_cache.py) ---
    public_cache_seconds: float = Field(
        1.0, ge=0, description="how long an anonymous browse answer is served from memory; 0 turns the cache off"
    )
    public_cache_max_entries: int = Field(10_000, ge=0, description="answers kept; the least recently used go first")
    public_cache_max_body_bytes: int = Field(256 * 1024, ge=0, description="larger answers are not kept")

    # --- back office: bulk product imports (POST /v1/admin/product-imports streams past MAX_REQUEST_BODY_BYTES) ---
    import_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="largest JSONL upload of a product import; a larger one is 413"
    )
    import_max_lines: int = Field(100_000, ge=1, description="most lines of one product import; more is 413")

    # --- back office: inbound ERP feeds (POST /v1/admin/stock-feeds, /v1/admin/price-feeds; streamed too) ---
    feed_max_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest CSV/JSONL upload of one ERP feed; a larger one is 413 (split it)"
    )
    feed_max_lines: int = Field(20_000, ge=1, description="most lines of one ERP feed; more is 413")

    # --- guests' own orders (order number + the e-mail of the checkout -> a short-lived order token) ---
    order_access_secret: str = Field(
        "",
        description="HMAC key (at least 32 characters) that signs guests' order-access tokens; every replica needs "
        "the same one. Empty: a random key per process (its tokens end with it; fine for one replica)",
    )
    order_access_ttl_seconds: int = Field(900, ge=60, le=86_400, description="lifetime of a guest's order token")
    guest_order_lookups_per_minute: float = Field(
        10.0, gt=0, description="order lookups (number + e-mail) one client address, and one order number, may make"
    )

    # --- clients ---
    forwarded_hops: int = Field(
        0, ge=0, description="trusted proxies in front of the gateway: the client IP is taken from X-Forwarded-For"
    )
    ip_country_header: str = Field(
        "", description="header a CDN sets with the client's country (e.g. CF-IPCountry); empty: unknown"
    )

    # --- what the gateway asserts about customers ---
    default_currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="currency of prices and carts")
    default_country: str = Field("US", pattern=r"^[A-Z]{2}$", description="country of customers whose token names none")
    b2b_default_approval_limit: int = Field(
        100_000,
        ge=0,
        description="b2b_buyer orders above this (minor units) wait for an approver unless their membership sets one",
    )
    b2b_default_approval_period: str = Field(
        "order",
        pattern=r"^(order|day|week|month)$",
        description="period over which a b2b_buyer's spending counts against the default limit",
    )
    company_context_cache_seconds: float = Field(
        5.0, ge=0, description="how long a B2B user's company and membership facts are kept per replica; 0: not kept"
    )
    b2b_default_payment_terms_days: int = Field(
        30, ge=0, le=365, description="invoice terms (0: no invoices) where no company says; companies always do"
    )
    problem_type_base: str = Field(
        "https://shop.example.com/problems/", description="prefix of the `type` URI of problem+json errors"
    )

    @model_validator(mode="after")
    def _dev_issuer_only_where_nobody_else_reaches_it(self) -> Self:
        # The dev issuer signs a token for any user and role: whoever reaches it is admin.
        if self.dev_mode and not self.dev_mode_local_only:
            exposed = [
                f"{name}={host or '(all addresses)'}"
                for name, host in (("HTTP_HOST", self.http_host), ("GRPC_HOST", self.grpc_host))
                if not is_loopback(host)
            ]
            if exposed:
                raise ValueError(
                    f"GATEWAY_DEV_MODE issues tokens to anyone but {', '.join(exposed)} is reachable from the "
                    "network: bind 127.0.0.1, or set GATEWAY_DEV_MODE_LOCAL_ONLY=true where only a local network "
                    "reaches the gateway (never in a shared or production deployment; use JWKS_URL there)"
                )
        return self

    def backend_addresses(self) -> dict[str, str]:
        """Configured backends (an empty address leaves a backend out)."""
        return {name: address for name in BACKENDS if (address := getattr(self, f"{name}_addr"))}
