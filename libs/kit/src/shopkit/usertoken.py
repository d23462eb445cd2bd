"""The end user on an internal call: a short-lived token the gateway signs for one service.

The gateway authenticates a client, then calls a service on the client's behalf. It does not send
the user's role in plain headers: its channel to each service turns the call's `x-shop-role`,
`x-shop-customer-id` and `x-shop-account-id` into one token in `x-shop-user`, a JWT (ES256) signed
with the gateway's own TLS key, with the service as its audience and a lifetime of a minute. The
service verifies it with the gateway's certificate (USER_TOKEN_ISSUER_CERT_FILE) and refuses bare
headers. A token meant for the cart is worthless at the order service, and a stolen one expires.

Signing and verifying cost tens of microseconds; both are cached (a token per user and audience
for half its lifetime; a verified token until it expires), so a busy user costs one of each per
half minute.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shopkit.errors import Unauthenticated

HEADER = "x-shop-user"
ISSUER = "shop-gateway"
ALGORITHM = "ES256"
LIFETIME_SECONDS = 60
LEEWAY_SECONDS = 5
CACHE_SIZE = 10_000
ROLE, CUSTOMER, ACCOUNT = "x-shop-role", "x-shop-customer-id", "x-shop-account-id"
SERVICE_ROLE = "service"
USER_HEADERS = (ROLE, CUSTOMER, ACCOUNT)


@dataclass(frozen=True)
class User:
    role: str
    customer_id: str = ""
    account_id: str = ""


def user_of(metadata: Iterable[tuple[str, Any]]) -> User | None:
    """The user that bare headers name (a role is required), or None."""
    values = {key: value for key, value in metadata if key in USER_HEADERS and isinstance(value, str)}
    role = values.get(ROLE, "")
    return User(role, values.get(CUSTOMER, ""), values.get(ACCOUNT, "")) if role else None


class Signer:
    """Tokens for calls on behalf of users (the gateway; tooling on a local stack)."""

    def __init__(
        self, private_key_pem: bytes, lifetime: int = LIFETIME_SECONDS, clock: Callable[[], float] = time.time
    ):
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
        self.lifetime = lifetime
        self._clock = clock
        self._cache: OrderedDict[tuple[User, str], tuple[str, float]] = OrderedDict()

    def token(self, user: User, audience: str) -> str:
        now = self._clock()
        cached = self._cache.get((user, audience))
        if cached is not None and cached[1] > now:
            self._cache.move_to_end((user, audience))
            return cached[0]
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": user.customer_id,
            "role": user.role,
            "acct": user.account_id,
            "iat": int(now),
            "exp": int(now) + self.lifetime,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]
        self._cache[(user, audience)] = (token, now + self.lifetime / 2)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return token

    def metadata(self, metadata: Sequence[tuple[str, Any]], audience: str) -> list[tuple[str, Any]]:
        """`metadata` with the user's bare headers replaced by a token for `audience` (the role
        `service`, a process calling as itself, names no user and stays as it is)."""
        user = user_of(metadata)
        rest = [(key, value) for key, value in metadata if key not in USER_HEADERS]
        if user is None:
            return rest
        if user.role == SERVICE_ROLE:
            return [*rest, (ROLE, SERVICE_ROLE)]
        return [*rest, (HEADER, self.token(user, audience))]


class Verifier:
    """Checks the tokens one service receives: the gateway's signature, this service as audience, not expired."""

    def __init__(self, issuer_cert_pem: bytes, audience: str, clock: Callable[[], float] = time.time):
        self._key = x509.load_pem_x509_certificate(issuer_cert_pem).public_key()
        self.audience = audience
        self._clock = clock
        self._cache: OrderedDict[str, tuple[User, float]] = OrderedDict()

    def verify(self, token: str) -> User:
        cached = self._cache.get(token)
        if cached is not None and cached[1] + LEEWAY_SECONDS > self._clock():
            return cached[0]
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "role"], "verify_iat": False},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise Unauthenticated(f"the user token is not valid here: {error}", reason="USER_TOKEN_INVALID") from error
        role = claims.get("role")
        if not isinstance(role, str) or not role or role == SERVICE_ROLE:
            raise Unauthenticated("the user token names no user role", reason="USER_TOKEN_INVALID")
        user = User(role, str(claims.get("sub") or ""), str(claims.get("acct") or ""))
        self._cache[token] = (user, float(claims["exp"]))
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return user


@dataclass(frozen=True)
class TokensFor:
    """A signer's tokens for one service: what a channel to that service sends (`clients.make_channel`)."""

    signer: Signer
    audience: str

    def metadata(self, metadata: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return self.signer.metadata(metadata, self.audience)
