"""The end user on an internal call: a short-lived token the gateway signs for one service.

The gateway authenticates a client, then calls a service on the client's behalf. It does not send
the user's role in plain headers: its channel to each service turns the call's `x-shop-role`,
`x-shop-customer-id` and `x-shop-account-id` into one token in `x-shop-user`, a JWT (ES256) signed
with the gateway's own TLS key, with the service as its audience and a lifetime of a minute. The
token carries the gateway's certificate (`x5c`): the service checks that it chains to the shop's CA
(TLS_CA_FILE), names `gateway` and is valid, then verifies the signature with its key. So no key
is distributed, and a renewed gateway certificate (a new key) is believed at once, old and new side
by side during a rollout. The service refuses bare headers. A token meant for the cart is
worthless at the order service, and a stolen one expires.

Signing and verifying cost tens of microseconds; both are cached (a token per user and audience
for half its lifetime; a verified token until it expires), so a busy user costs one of each per
half minute. An entry past its time is dropped, so the caches hold the users of the last minute, not
every user since the start (a token is over a kilobyte: its certificate travels with it).
"""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from shopkit.errors import Unauthenticated
from shopkit.expiring import Expiring

HEADER = "x-shop-user"
ISSUER = "shop-gateway"
ISSUER_IDENTITY = "gateway"  # the Common Name of the certificate a token must carry
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
    """Tokens for calls on behalf of users, signed with the key of `certificate_pem` (the gateway's;
    tooling on a local stack holds the stack's gateway key), which they carry with its chain."""

    def __init__(
        self,
        private_key_pem: bytes,
        certificate_pem: bytes,
        lifetime: int = LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
        chain = x509.load_pem_x509_certificates(certificate_pem)
        self._headers = {
            "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in chain]
        }
        self.lifetime = lifetime
        self._clock = clock
        self._cache: Expiring[tuple[User, str], str] = Expiring(CACHE_SIZE)

    def token(self, user: User, audience: str) -> str:
        now = self._clock()
        cached = self._cache.get((user, audience), now)
        if cached is not None:
            return cached
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": user.customer_id,
            "role": user.role,
            "acct": user.account_id,
            "iat": int(now),
            "exp": int(now) + self.lifetime,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=self._headers)  # type: ignore[arg-type]
        self._cache.put((user, audience), token, now + self.lifetime / 2, now)
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
    """Checks the tokens one service receives: signed by the key of a valid `gateway` certificate of
    the shop's CA (`authority_pem`), this service as audience, not expired."""

    def __init__(self, authority_pem: bytes, audience: str, clock: Callable[[], float] = time.time):
        self._store = Store(x509.load_pem_x509_certificates(authority_pem))
        self.audience = audience
        self._clock = clock
        self._cache: Expiring[str, User] = Expiring(CACHE_SIZE)

    def verify(self, token: str) -> User:
        now = self._clock()
        cached = self._cache.get(token, now)
        if cached is not None:
            return cached
        try:
            key = self._issuer_key(jwt.get_unverified_header(token).get("x5c"))
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
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
        self._cache.put(token, user, float(claims["exp"]) + LEEWAY_SECONDS, now)
        return user

    def _issuer_key(self, x5c: Any) -> Any:
        """The public key of the certificate a token carries, once it proves to be the gateway's."""
        if not isinstance(x5c, list) or not x5c or not all(isinstance(item, str) for item in x5c):
            raise ValueError("the token carries no certificate (x5c)")
        leaf, *intermediates = (x509.load_der_x509_certificate(base64.b64decode(item)) for item in x5c)
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        verifier = PolicyBuilder().store(self._store).time(now).build_client_verifier()
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as error:
            raise ValueError(f"its certificate is not one of the shop's CA: {error}") from error
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or names[0].value != ISSUER_IDENTITY:
            raise ValueError(f"its certificate is not the {ISSUER_IDENTITY}'s")
        return leaf.public_key()


@dataclass(frozen=True)
class TokensFor:
    """A signer's tokens for one service: what a channel to that service sends (`clients.make_channel`)."""

    signer: Signer
    audience: str

    def metadata(self, metadata: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return self.signer.metadata(metadata, self.audience)
