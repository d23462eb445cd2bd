"""The environment each service process gets, and the overrides a developer can give.

Overrides (all optional):
    SHOP_POSTGRES_URL   admin URL of an external PostgreSQL (e.g. postgresql://admin:pw@db:5432/postgres);
                        the launcher creates the per-service roles and databases there instead of
                        starting the embedded server.
    SHOP_NATS_URL       URL of an external NATS server with JetStream; no embedded nats-server then.
    SHOP_<SVC>_<VAR>    set <VAR> for that one service, e.g. SHOP_CATALOG_LOG_LEVEL=DEBUG, or
                        SHOP_PRICING_DATABASE_URL=... to use a database the launcher doesn't manage.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Mapping

from shop_devstack.layout import LOCAL_HOST, SERVICE_PORTS, ServiceSpec

POSTGRES_URL_VAR = "SHOP_POSTGRES_URL"
NATS_URL_VAR = "SHOP_NATS_URL"

# Defaults for a developer machine; a variable the developer exported wins over these.
LOCAL_DEFAULTS = {
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    "DB_POOL_SIZE": "5",  # seven services share one local server (max_connections 100)
    "DB_MAX_OVERFLOW": "5",
    "SHUTDOWN_GRACE_SECONDS": "5",
}

_PEER_ADDRESS = re.compile(r"^(?P<scheme>[a-z]+:///?)?(?P<host>[A-Za-z0-9_.-]+):(?P<port>\d+)$")
_GRPC_PORTS = {grpc: name for name, (grpc, _) in SERVICE_PORTS.items()}


def service_overrides(service: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """SHOP_<SVC>_<VAR>=value pairs, returned as {<VAR>: value}."""
    prefix = f"SHOP_{service.upper()}_"
    source = os.environ if environ is None else environ
    return {key[len(prefix) :]: value for key, value in source.items() if key.startswith(prefix) and key != prefix}


def peer_addresses(service: str, port_offset: int) -> dict[str, str]:
    """Settings whose default points at another service's port, aimed at the local one.

    A service's settings may default to e.g. `catalog:50051` (the Kubernetes name); locally the
    same service listens on 127.0.0.1 at the fixed port plus the offset.
    """
    try:
        module = importlib.import_module(f"shop_{service}.settings")
    except ImportError:
        return {}
    from shopkit.settings import ServiceSettings

    result: dict[str, str] = {}
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if not issubclass(cls, ServiceSettings) or cls is ServiceSettings:
            continue
        for name, info in cls.model_fields.items():
            default = info.default
            match = _PEER_ADDRESS.match(default) if isinstance(default, str) else None
            if match is None or int(match["port"]) not in _GRPC_PORTS:
                continue
            env = (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
            result[env] = f"{match['scheme'] or ''}{LOCAL_HOST}:{int(match['port']) + port_offset}"
    return result


def service_environment(
    spec: ServiceSpec, *, database_url: str, nats_url: str, port_offset: int, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    base = dict(os.environ if environ is None else environ)
    env = {**LOCAL_DEFAULTS, **base}
    env.update(
        {
            "OTEL_SERVICE_NAME": spec.name,
            "GRPC_HOST": LOCAL_HOST,  # nothing on the network reaches a dev stack that trusts x-shop-role
            "METRICS_HOST": LOCAL_HOST,
            "GRPC_PORT": str(spec.grpc_port),
            "METRICS_PORT": str(spec.metrics_port),
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(peer_addresses(spec.name, port_offset))
    env.update(service_overrides(spec.name, base))
    return env
