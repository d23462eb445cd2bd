"""Guests' order tokens: an HS256 JWT, signed with the gateway's own key, that opens one order (see
app/guest_orders.py); and the limits of the lookups that hand them out."""

from __future__ import annotations

import logging
import secrets
import time

import jwt

from shop_gateway.principal import ClientInfo
from shop_gateway.ratelimit import RateLimited, TokenBuckets, address_key
from shop_gateway.settings import GatewaySettings
from shopkit.errors import Unauthenticated

log = logging.getLogger("shop_gateway.guest_orders")

ORDER_TOKEN_HEADER = "X-Order-Token"
AUDIENCE = "shop-guest-order"  # never the bearer tokens' audience
ALGORITHM = "HS256"
MIN_SECRET = 32
LOOKUP_BURST = 5


class OrderTokens:
    """Signs and checks guests' order tokens, and limits lookups (in this process, like the other limits)."""

    def __init__(self, settings: GatewaySettings):
        secret = settings.order_access_secret
        if secret and len(secret) < MIN_SECRET:
            raise ValueError(f"ORDER_ACCESS_SECRET must be at least {MIN_SECRET} characters")
        if not secret and not settings.dev_mode:
            log.warning("ORDER_ACCESS_SECRET is not set: guests' order tokens hold only at this replica until it stops")
        self._key = secret.encode() if secret else secrets.token_bytes(32)
        self.issuer = settings.jwt_issuer
        self.ttl = settings.order_access_ttl_seconds
        rate = settings.guest_order_lookups_per_minute / 60
        self.enabled = settings.rate_limit_enabled
        self.by_client = TokenBuckets(rate, LOOKUP_BURST, settings.rate_limit_max_clients)
        self.by_number = TokenBuckets(rate, LOOKUP_BURST, settings.rate_limit_max_clients)

    def admit_lookup(self, client: ClientInfo, number: str) -> None:
        if not self.enabled:
            return
        wait = max(self.by_client.take(address_key(client.ip)), self.by_number.take(number))
        if wait > 0:
            raise RateLimited(wait)

    def issue(self, order_id: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": order_id, "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def order_of(self, token: str) -> str:
        """The order a valid token opens; 401 otherwise."""
        if not token:
            raise Unauthenticated(
                f"this route needs the {ORDER_TOKEN_HEADER} of POST /v1/guest-orders/lookup",
                reason="ORDER_TOKEN_REQUIRED",
            )
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated(
                "the order token has expired: look the order up again", reason="TOKEN_EXPIRED"
            ) from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthenticated("the order token is not valid", reason="INVALID_ORDER_TOKEN") from exc
        return str(claims["sub"])
