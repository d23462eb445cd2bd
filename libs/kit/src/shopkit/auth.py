"""Who is calling: the end user the gateway established, or the calling process itself.

On TLS (see `tls`) the server interceptor establishes the caller once per call: the user of a
token the gateway signed for this service (`usertoken`), else the calling process in the role
`service`, or an anonymous shopper when the gateway calls with neither a user nor `x-shop-role:
service` (the gateway's own calls, e.g. listing the stores). Bare `x-shop-role`,
`x-shop-customer-id` and `x-shop-account-id` headers are refused there. Plain text carries no
certificate: a test in one process states its caller in those headers alone (`metadata_for`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from shopkit import usertoken
from shopkit.access import GATEWAY
from shopkit.errors import PermissionDenied
from shopkit.usertoken import SERVICE_ROLE

ROLES = ("customer", "b2b_buyer", "b2b_approver", "admin", "fraud_analyst", "store_staff", "sales", "service")
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


# The caller of the call being handled, on TLS (each call runs in a task of its own).
_established: ContextVar[Caller | None] = ContextVar("shop_caller", default=None)


def caller(context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
    established = _established.get()
    if established is not None:
        return established
    user = usertoken.user_of(context.invocation_metadata() or ())
    return Caller(user.role, user.customer_id, user.account_id) if user else Caller()


def establish(identity: str, metadata: Iterable[tuple[str, Any]], verifier: usertoken.Verifier) -> Caller:
    """The caller of a call on TLS from the process `identity`, for `caller` to return: refuses bare
    user headers and tokens this service cannot verify."""
    token, as_itself = "", False
    for key, value in metadata:
        if key == usertoken.HEADER and isinstance(value, str):
            token = value
        elif key == usertoken.ROLE and value == SERVICE_ROLE:
            as_itself = True
        elif key in usertoken.USER_HEADERS:
            raise PermissionDenied(
                f"{key} is not believed from any caller: the user travels in a token the gateway signed",
                reason="USER_TOKEN_REQUIRED",
                metadata={"caller": identity, "header": key},
            )
    if token:
        user = verifier.verify(token)
        found = Caller(user.role, user.customer_id, user.account_id, identity)
    elif identity == GATEWAY and not as_itself:
        found = Caller(identity=identity)  # an anonymous shopper
    else:
        found = Caller(role=SERVICE_ROLE, identity=identity)
    _established.set(found)
    return found


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
