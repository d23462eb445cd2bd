"""Which caller may call which method, by the identity its certificate proves (see `tls`).

Each service keeps an allow-list, method name -> identities, next to its servicer; a method the
list leaves out is refused to everyone. On a TLS connection the server interceptor refuses a caller
the list does not name, and refuses an end user's identity (`x-shop-role` and friends) from any
caller but the gateway, which authenticated that user, and the operators' tooling. Plain text
(loopback only: tests in one process) carries no identity, so nothing is checked there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shopkit.errors import PermissionDenied

GATEWAY = "gateway"
# shop-dev seed, shopctl and the system tests: operators' tooling, with a certificate of its own.
TOOLING = "tooling"
SERVICES = ("catalog", "pricing", "inventory", "cart", "checkout", "order", "fraud")
# Every identity the shop's CA issues a certificate to.
IDENTITIES = (*SERVICES, GATEWAY, "sandbox", TOOLING)
# Callers that may state on whose behalf they call: the gateway verified the user's token; tooling is an operator.
USER_CONTEXT_ISSUERS = frozenset({GATEWAY, TOOLING})
USER_CONTEXT_KEYS = ("x-shop-role", "x-shop-customer-id", "x-shop-account-id")
SERVICE_ROLE = "service"

Callers = Mapping[str, frozenset[str]]


def allow(*identities: str) -> frozenset[str]:
    unknown = set(identities) - set(IDENTITIES)
    if unknown:
        raise ValueError(f"unknown caller identities: {sorted(unknown)}")
    return frozenset(identities)


def check_caller(identity: str, allowed: frozenset[str], method: str) -> None:
    if identity not in allowed:
        raise PermissionDenied(
            f"{identity or 'a caller without a name'} may not call {method}",
            reason="CALLER_NOT_ALLOWED",
            metadata={"caller": identity, "method": method},
        )


def check_user_context(identity: str, metadata: Iterable[tuple[str, str | bytes]]) -> None:
    """A service calls as itself (role `service`, or no role at all); any other user context is forged."""
    if identity in USER_CONTEXT_ISSUERS:
        return
    for key, value in metadata:
        if key in USER_CONTEXT_KEYS and not (key == "x-shop-role" and value == SERVICE_ROLE):
            raise PermissionDenied(
                f"{identity} may not act on behalf of a user ({key})",
                reason="USER_CONTEXT_NOT_ALLOWED",
                metadata={"caller": identity, "header": key},
            )
