"""The environment each service process gets, and the overrides a developer can give.

Overrides (all optional):
    SHOP_POSTGRES_URL   admin URL of an external PostgreSQL (e.g. postgresql://admin:pw@db:5432/postgres);
                        the launcher creates the per-service roles and databases there instead of
                        starting the embedded server.
    SHOP_NATS_URL       URL of an external NATS server with JetStream; no embedded nats-server then,
                        and the URL is passed on as it is. The embedded server has one user per
                        service (shop_devstack.natsconfig) and each service gets its own in NATS_URL;
                        for per-service users on an external server, SHOP_<SVC>_NATS_URL=nats://<svc>:pw@host:4222.
    SHOP_<SVC>_<VAR>    set <VAR> for that one service, e.g. SHOP_CATALOG_LOG_LEVEL=DEBUG, or
                        SHOP_PRICING_DATABASE_URL=... to use a database the launcher doesn't manage
                        (also for the sandbox and the gateway: SHOP_GATEWAY_RATE_LIMIT_ENABLED=false).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from shop_devstack.layout import (
    GATEWAY_GRPC_PORT,
    GATEWAY_HTTP_PORT,
    LOCAL_HOST,
    MAIL_SMTP_PORT,
    SANDBOX_HTTP_PORT,
    SERVICE_PORTS,
    STRIPE_HTTP_PORT,
    TLS_HTTP_PROCESSES,
    ServiceSpec,
)

POSTGRES_URL_VAR = "SHOP_POSTGRES_URL"
NATS_URL_VAR = "SHOP_NATS_URL"

# Defaults for a developer machine; a variable the developer exported wins over these.
LOCAL_DEFAULTS = {
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    "DB_POOL_SIZE": "5",  # eight databases (services, sandbox) share one local server (max_connections 100)
    "DB_MAX_OVERFLOW": "5",
    "SHUTDOWN_GRACE_SECONDS": "5",
}

# A peer address: `catalog:50051`, `dns:///catalog:50051`, `http://localhost:8090`, `http://sandbox:8090/v1`.
_PEER_ADDRESS = re.compile(r"^(?P<scheme>[a-z]+:///?)?(?P<host>[A-Za-z0-9_.-]+):(?P<port>\d+)(?P<path>/[^\s]*)?$")
# Every fixed port a process may call -> the process that listens there.
KNOWN_PORTS: dict[int, str] = {
    **{grpc: name for name, (grpc, _) in SERVICE_PORTS.items()},
    SANDBOX_HTTP_PORT: "sandbox",
    GATEWAY_HTTP_PORT: "gateway",
    GATEWAY_GRPC_PORT: "gateway",
}


def service_overrides(service: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """SHOP_<SVC>_<VAR>=value pairs, returned as {<VAR>: value}."""
    prefix = f"SHOP_{service.upper()}_"
    source = os.environ if environ is None else environ
    return {key[len(prefix) :]: value for key, value in source.items() if key.startswith(prefix) and key != prefix}


@dataclass(frozen=True)
class PeerSetting:
    """A setting whose default points at another process's fixed port."""

    env: str  # the environment variable, e.g. CATALOG_ADDR or PAYMENT_PROVIDER_URL
    peer: str  # the process listening on that port
    scheme: str  # "", "dns:///", "http://"
    port: int
    path: str  # of an HTTP URL, usually ""

    def local(self, port_offset: int, tls: bool = False) -> str:
        """The local address; with `tls` (the stack's processes have their certificates) an HTTP URL
        of a process whose HTTP port then speaks TLS (the sandbox) becomes https."""
        scheme = self.scheme
        if tls and scheme == "http://" and self.peer in TLS_HTTP_PROCESSES:
            scheme = "https://"
        return f"{scheme}{LOCAL_HOST}:{self.port + port_offset}{self.path}"


def peer_settings(service: str) -> list[PeerSetting]:
    """Settings of `service` whose `str` default names a known port: gRPC peers and HTTP URLs alike."""
    try:
        module = importlib.import_module(f"shop_{service}.settings")
    except ImportError:
        return []
    from shopkit.settings import ServiceSettings

    found: dict[str, PeerSetting] = {}
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if not issubclass(cls, ServiceSettings) or cls is ServiceSettings:
            continue
        for name, info in cls.model_fields.items():
            default = info.default
            match = _PEER_ADDRESS.match(default) if isinstance(default, str) else None
            if match is None or int(match["port"]) not in KNOWN_PORTS:
                continue
            env = (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
            port = int(match["port"])
            found[env] = PeerSetting(env, KNOWN_PORTS[port], match["scheme"] or "", port, match["path"] or "")
    return list(found.values())


def peer_addresses(
    service: str, port_offset: int, absent: Collection[str] = (), *, tls: bool = False
) -> dict[str, str]:
    """Settings whose default points at another process's port, aimed at the local one.

    A service's settings may default to e.g. `catalog:50051` (the Kubernetes name) or
    `http://localhost:8090` (the sandbox); locally that process listens on 127.0.0.1 at the fixed
    port plus the offset, and with `tls` (the stack gives every process its certificate) the
    sandbox's URL is `https://127.0.0.1:8090`. Settings pointing at a process in `absent` get an
    empty value (the gateway then leaves that backend out of its readiness).
    """
    return {
        setting.env: "" if setting.peer in absent else setting.local(port_offset, tls)
        for setting in peer_settings(service)
    }


def service_environment(
    spec: ServiceSpec,
    *,
    database_url: str | None,
    nats_url: str,
    port_offset: int,
    absent: Collection[str] = (),
    gateway_dir: Path | None = None,
    tls_files: Mapping[str, str] | None = None,
    mail_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    payments: str = "sandbox",
) -> dict[str, str]:
    """The environment of `shop-<name> migrate|serve`: ports, URLs, peers, its certificate
    (`tls_files`: TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE), then the developer's overrides.

    With `tls_files` the process's peers have theirs too: HTTP URLs of the sandbox become https."""
    base = dict(os.environ if environ is None else environ)
    env = {**LOCAL_DEFAULTS, **base}
    # Everything binds 127.0.0.1, and every process proves who it is with a certificate of the stack's CA.
    env.update({"OTEL_SERVICE_NAME": spec.name, "NATS_URL": nats_url, "PYTHONUNBUFFERED": "1"})
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if spec.grpc_port is not None:
        env.update({"GRPC_HOST": LOCAL_HOST, "GRPC_PORT": str(spec.grpc_port)})
    if spec.metrics_port is not None:
        env.update({"METRICS_HOST": LOCAL_HOST, "METRICS_PORT": str(spec.metrics_port)})
    if spec.http_port is not None:
        env.update({"HTTP_HOST": LOCAL_HOST, "HTTP_PORT": str(spec.http_port)})
    if spec.health_port is not None:
        env["HEALTH_PORT"] = str(spec.health_port)  # probes in plain HTTP (the launcher's, `shop-dev status`)
    env.update(tls_files or {})
    if spec.name == "gateway":
        env["GATEWAY_DEV_MODE"] = "true"  # the built-in token issuer: POST /v1/auth/token
        if gateway_dir is not None:
            env["GATEWAY_DATA_DIR"] = str(gateway_dir)  # its signing key, so tokens outlive a restart
    if spec.smtp_port is not None:  # the SMTP catcher
        env["SMTP_PORT"] = str(spec.smtp_port)
        if mail_dir is not None:
            env["MAIL_DIR"] = str(mail_dir)
    if spec.name == "notifications":
        # Mails go to the stack's catcher (a developer's SHOP_NOTIFICATIONS_SMTP_* override wins).
        env.update({"SMTP_HOST": LOCAL_HOST, "SMTP_PORT": str(MAIL_SMTP_PORT + port_offset)})
        # Development: webhooks may target a receiver on this machine (http to loopback included).
        env["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
    env.update(peer_addresses(spec.name, port_offset, absent, tls=bool(tls_files)))
    if payments == "stripe" and spec.name in PAYMENT_CALLERS:
        env.update(stripe_environment(port_offset))
    env.update(service_overrides(spec.name, base))
    return env


# The services that call the payment provider (through shop_payments' port).
PAYMENT_CALLERS = frozenset({"checkout", "order", "customers"})


def stripe_environment(port_offset: int) -> dict[str, str]:
    """The Stripe adapter's settings against the stack's fake Stripe (any sk_test_ key will do there)."""
    return {
        "PAYMENT_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_shop_local",
        "STRIPE_API_BASE": f"http://{LOCAL_HOST}:{STRIPE_HTTP_PORT + port_offset}",
    }
