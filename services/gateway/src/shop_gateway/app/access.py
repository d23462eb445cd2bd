"""Authorization rules of the gateway (the services check again; this is the edge's first line)."""

from __future__ import annotations

from collections.abc import Iterable

from shop_gateway.principal import SHOPPER_ROLES, Principal
from shopkit.errors import PermissionDenied, Unauthenticated


def require_token(who: Principal) -> Principal:
    if not who.authenticated:
        raise Unauthenticated("this operation needs a bearer token", reason="TOKEN_REQUIRED")
    return who


def require_role(who: Principal, roles: Iterable[str]) -> Principal:
    require_token(who)
    allowed = tuple(roles)
    if who.role not in allowed:
        raise PermissionDenied(
            f"this operation needs one of the roles {', '.join(allowed)}",
            reason="ROLE_REQUIRED",
            metadata={"required_roles": ",".join(allowed), "role": who.role},
        )
    return who


def require_shopper(who: Principal) -> Principal:
    """Carts, checkouts and orders belong to shoppers (customer and the B2B roles)."""
    return require_role(who, SHOPPER_ROLES)


def require_cart_holder(who: Principal) -> Principal:
    """A shopper, or a guest with its cart: the cart and its checkout are theirs."""
    return who if who.is_guest else require_shopper(who)


def require_admin(who: Principal) -> Principal:
    return require_role(who, ("admin",))
