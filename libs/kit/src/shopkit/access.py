"""Which caller may call which method, by the identity its certificate proves (see `tls`).

Each service keeps an allow-list, method name -> identities, next to its servicer; a method the
list leaves out is refused to everyone. On a TLS connection the server interceptor refuses a caller
the list does not name. Plain text (loopback only: tests in one process) carries no identity, so
nothing is checked there. The end user on whose behalf a process calls is `auth`'s business.
"""

from __future__ import annotations

from collections.abc import Mapping

from shopkit.errors import PermissionDenied

GATEWAY = "gateway"
# shop-dev seed, shopctl and the system tests: operators' tooling, with a certificate of its own.
TOOLING = "tooling"
SERVICES = ("catalog", "pricing", "inventory", "cart", "checkout", "order", "fraud", "notifications", "customers")
# Every identity the shop's CA issues a certificate to.
IDENTITIES = (*SERVICES, GATEWAY, "sandbox", TOOLING)

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
