"""Access tokens: JWT verification against a JWKS, and the built-in issuer of local dev mode.

Keys come from a JWKS URL (cached; an unknown `kid` triggers a refetch, so a key rotation at the
issuer is picked up without a restart) or, in dev mode, from the gateway's own issuer. Only
asymmetric algorithms are accepted; `alg: none` and HMAC tokens are refused before any key lookup,
and a token's algorithm must fit the key it names (an ES256 header on an RSA key is refused, not
handed to the signature check). Whatever a token holds, a failure to verify it is INVALID_TOKEN.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shop_gateway.principal import B2B_ROLES, CLIENT_ROLES, Principal
from shop_gateway.scopes import machine_principal
from shop_gateway.settings import GatewaySettings
from shopkit.errors import Unauthenticated, Unavailable, Violations
from shopkit.money import is_currency

log = logging.getLogger("shop_gateway.tokens")

DEV_KEY_FILE = "dev-issuer-key.pem"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
# store_staff tokens name the locations a member of staff works at, as identity providers carry group
# or site memberships in a custom claim (a list of inventory location ids).
LOCATIONS_CLAIM = "shop_locations"
LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_LOCATIONS = 100
LATEST_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second protobuf timestamps know
# Key type (JWK `kty`) -> the algorithm prefixes that can be verified with such a key.
KEY_ALGORITHMS = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}
# What PyJWT or the key classes raise for input they do not expect: all of them mean "not valid".
VERIFY_ERRORS = (jwt.PyJWTError, TypeError, ValueError, KeyError, OverflowError)


def invalid_token(message: str, reason: str = "INVALID_TOKEN") -> Unauthenticated:
    return Unauthenticated(message, reason=reason)


class KeySource(Protocol):
    async def key(self, kid: str | None) -> jwt.PyJWK: ...


def _usable_keys(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """Signature keys of a JWKS document by kid; keys this library cannot use are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            log.warning("skipping an unusable JWKS key", extra={"kid": entry.get("kid", "")})
            continue
        keys[str(entry.get("kid", ""))] = key
    return keys


def _pick(keys: Mapping[str, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None  # no kid: only an unambiguous key


class StaticKeys:
    """A fixed key set (the dev issuer's own keys)."""

    def __init__(self, document: Mapping[str, Any]):
        self._keys = _usable_keys(document)

    async def key(self, kid: str | None) -> jwt.PyJWK:
        found = _pick(self._keys, kid)
        if found is None:
            raise invalid_token("the token was signed with an unknown key", "UNKNOWN_SIGNING_KEY")
        return found


class RemoteJwks:
    """Keys of a JWKS URL, cached for `cache_seconds`; an unknown kid refetches at most every
    `min_refresh_seconds`. When the issuer is unreachable the cached keys stay in use."""

    def __init__(self, url: str, client: httpx.AsyncClient, cache_seconds: float, min_refresh_seconds: float):
        self.url = url
        self.client = client
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self.cache_seconds:
            await self._refresh(self._fetched_at)
        found = _pick(self._keys, kid)
        if found is None and self._fetched_at is not None and now - self._fetched_at >= self.min_refresh_seconds:
            await self._refresh(self._fetched_at)  # perhaps the issuer rotated its keys
            found = _pick(self._keys, kid)
        if found is None:
            raise invalid_token("the token was signed with an unknown key", "UNKNOWN_SIGNING_KEY")
        return found

    async def _refresh(self, seen: float | None) -> None:
        async with self._lock:
            if self._fetched_at != seen:
                return  # another request refreshed while this one waited
            try:
                response = await self.client.get(self.url)
                response.raise_for_status()
                keys = _usable_keys(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                if not self._keys:
                    raise Unavailable("the token issuer's keys cannot be fetched", reason="JWKS_UNAVAILABLE") from exc
                log.warning("JWKS refetch failed; keeping the cached keys", extra={"url": self.url, "error": str(exc)})
                self._fetched_at = time.monotonic()
                return
            self._keys = keys
            self._fetched_at = time.monotonic()


class TokenVerifier:
    """Checks signature, issuer, audience and lifetime, and turns the claims into a Principal."""

    def __init__(self, keys: KeySource, settings: GatewaySettings):
        self.keys = keys
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.algorithms = [a for a in settings.jwt_algorithms if a.startswith(("RS", "ES", "PS", "Ed"))]
        self.leeway = settings.jwt_leeway_seconds
        self.client_id_claim = settings.jwt_client_id_claim
        self.scope_claim = settings.jwt_scope_claim

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except VERIFY_ERRORS as exc:
            raise invalid_token("the bearer token is not a JWT") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise invalid_token(f"tokens signed with {str(algorithm)[:20]!r} are not accepted")
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if not _fits(key, algorithm):
            raise invalid_token(f"the signing key does not sign with {algorithm}")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise invalid_token("the token has expired", "TOKEN_EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise invalid_token(f"the token is not valid: {exc}") from exc
        except VERIFY_ERRORS as exc:
            raise invalid_token("the token is not valid") from exc
        machine = machine_principal(claims, self.client_id_claim, self.scope_claim)
        return machine if machine is not None else principal_from_claims(claims)


def _fits(key: jwt.PyJWK, algorithm: str) -> bool:
    """A key of this type can verify `algorithm` (RSA keys RS*/PS*, EC keys ES*, OKP keys EdDSA)."""
    return algorithm.startswith(KEY_ALGORITHMS.get(str(key.key_type), ()))


def _number(claims: Mapping[str, Any], name: str, low: int, high: int) -> int | float | None:
    """A numeric claim within [low, high]; None when absent or not a number, refused when out of range."""
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if not low <= value <= high:
        raise invalid_token(f"the token's {name} claim is out of range")
    return value


def _locations(value: Any) -> tuple[str, ...]:
    """The `shop_locations` claim: a list (or one space-separated string, as some providers flatten
    lists) of inventory location ids; anything else in it makes the token invalid."""
    if value is None:
        return ()
    items = value.split() if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or len(items) > MAX_LOCATIONS
        or not all(isinstance(x, str) and LOCATION_ID.match(x) for x in items)
    ):
        raise invalid_token(f"the token's {LOCATIONS_CLAIM} claim must be a list of up to {MAX_LOCATIONS} location ids")
    return tuple(dict.fromkeys(items))


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    role = claims.get("role")
    if role not in CLIENT_ROLES:
        raise invalid_token(f"the token's role {str(role)[:40]!r} is not one of {', '.join(CLIENT_ROLES)}")
    account_id = str(claims.get("account_id") or "")
    if role in B2B_ROLES and not account_id:
        raise invalid_token(f"a {role} token needs an account_id claim")
    since = _number(claims, "customer_since", 0, LATEST_TIMESTAMP)
    # A B2B user's limits, terms and tax id are their company's data (app.companies), not claims.
    return Principal(
        subject=str(claims["sub"]),
        role=str(role),
        account_id=account_id,
        email=str(claims.get("email") or ""),
        customer_group=str(claims.get("customer_group") or ""),
        country=str(claims.get("country") or ""),
        currency=str(claims.get("currency") or ""),
        customer_since=datetime.fromtimestamp(since, UTC) if since is not None else None,
        locations=_locations(claims.get(LOCATIONS_CLAIM)),
    )


# ---------------------------------------------------------------------------------------------
# The dev issuer


def _thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a stable kid derived from the key itself."""
    canonical = json.dumps({k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def _load_or_create_key(data_dir: str) -> rsa.RSAPrivateKey:
    path = Path(data_dir) / DEV_KEY_FILE if data_dir else None
    if path is not None and path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(loaded, rsa.RSAPrivateKey):
            return loaded
        raise ValueError(f"{path} does not hold an RSA private key")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
    return key


class DevIssuer:
    """Local development only: signs tokens for any user and role with an RSA key of its own."""

    def __init__(self, settings: GatewaySettings, key: rsa.RSAPrivateKey | None = None):
        self.settings = settings
        self._key = key or _load_or_create_key(settings.data_dir)
        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        self.kid = _thumbprint(public)
        self._public_jwk = {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._public_jwk]}

    def key_source(self) -> StaticKeys:
        return StaticKeys(self.jwks())

    def issue(self, request: TokenRequest) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        request.validate()
        now = int(time.time())
        ttl = self.settings.dev_token_ttl_seconds
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": request.username,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "role": request.role,
            "email": request.email or f"{request.username}@example.com",
            # An established customer unless the caller says otherwise (fraud scores new accounts).
            "customer_since": request.customer_since if request.customer_since is not None else now - 365 * 86400,
        }
        for name in ("account_id", "customer_group", "country", "currency"):
            if value := getattr(request, name):
                claims[name] = value
        if request.locations:
            claims[LOCATIONS_CLAIM] = list(request.locations)
        return self.sign(claims), ttl

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._key, algorithm="RS256", headers={"kid": self.kid})


@dataclass(frozen=True)
class TokenRequest:
    """What a developer asks the dev issuer for (validated like any other input)."""

    username: str
    role: str
    account_id: str = ""
    email: str = ""
    customer_group: str = ""
    country: str = ""
    currency: str = ""
    customer_since: int | None = None  # unix seconds; unset: a year before the token
    locations: tuple[str, ...] = ()  # store_staff: the locations they work at (claim shop_locations)

    def validate(self) -> None:
        violations = Violations()
        violations.check(
            1 <= len(self.username) <= 128 and self.username.isprintable() and " " not in self.username,
            "username",
            "must be 1-128 printable characters without spaces",
        )
        violations.check(self.role in CLIENT_ROLES, "role", f"must be one of {', '.join(CLIENT_ROLES)}")
        violations.check(self.role not in B2B_ROLES or bool(self.account_id), "account_id", "is required for B2B roles")
        violations.check(not self.email or "@" in self.email, "email", "must be an e-mail address")
        violations.check(not self.country or len(self.country) == 2, "country", "must be an ISO-3166-1 alpha-2 code")
        violations.check(not self.currency or is_currency(self.currency), "currency", "must be an ISO-4217 code")
        violations.check(
            len(self.locations) <= MAX_LOCATIONS and all(LOCATION_ID.match(x) for x in self.locations),
            "locations",
            f"must be up to {MAX_LOCATIONS} inventory location ids",
        )
        violations.check(
            self.customer_since is None or 0 <= self.customer_since <= LATEST_TIMESTAMP,
            "customer_since",
            f"must be unix seconds between 0 and {LATEST_TIMESTAMP}",
        )
        violations.raise_if_any()
