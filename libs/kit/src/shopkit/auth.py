"""Who is calling: the end user the gateway established, or the service itself.

The gateway authenticates clients (JWT) and forwards `x-shop-role`, `x-shop-customer-id` and
`x-shop-account-id`. A service believes them only from a caller whose certificate says it is the
gateway or the operators' tooling (see `access`); a call from another service is that service, in
the role `service`, whatever its headers say (the server interceptor refuses such headers anyway).
Plain text carries no certificate: a test in one process states its caller in the headers alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from shopkit import tls
from shopkit.access import SERVICE_ROLE, USER_CONTEXT_ISSUERS
from shopkit.errors import PermissionDenied

ROLES = ("customer", "b2b_buyer", "b2b_approver", "admin", "fraud_analyst", "service")
ADMIN_ROLES = ("admin", "service")


@dataclass(frozen=True)
class Caller:
    role: str = ""
    customer_id: str = ""
    account_id: str = ""
    identity: str = ""  # of the calling process, on TLS

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


def caller(context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
    identity = tls.peer_identity(context)
    if identity is not None and identity not in USER_CONTEXT_ISSUERS:
        return Caller(role=SERVICE_ROLE, identity=identity)
    values = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
    return Caller(
        role=values.get("x-shop-role", ""),
        customer_id=values.get("x-shop-customer-id", ""),
        account_id=values.get("x-shop-account-id", ""),
        identity=identity or "",
    )


def require_role(context: grpc.aio.ServicerContext[Any, Any], roles: Iterable[str] = ADMIN_ROLES) -> Caller:
    """The caller, if it has one of `roles`; PERMISSION_DENIED otherwise."""
    who = caller(context)
    allowed = tuple(roles)
    if who.role not in allowed:
        raise PermissionDenied(
            f"this operation needs one of the roles {', '.join(allowed)}",
            reason="ROLE_REQUIRED",
            metadata={"required_roles": ",".join(allowed), "role": who.role or "anonymous"},
        )
    return who


def metadata_for(role: str, customer_id: str = "", account_id: str = "") -> tuple[tuple[str, str], ...]:
    """Call metadata that identifies a caller (for the gateway, services and tests)."""
    pairs = [("x-shop-role", role)]
    if customer_id:
        pairs.append(("x-shop-customer-id", customer_id))
    if account_id:
        pairs.append(("x-shop-account-id", account_id))
    return tuple(pairs)
