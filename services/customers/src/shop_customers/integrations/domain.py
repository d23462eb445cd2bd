"""An integration client and the rules of its secret.

A secret is 256 random bits (url-safe base64), shown once; only its SHA-256 is stored. A slow
password hash exists to resist guessing low-entropy secrets; these are not guessable, and the hash
is checked on every token request, so a fast one is the right tool. Rotation keeps the previous
secret for a grace period, so an integration can roll its configuration without a gap."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from shopkit.errors import Violations

MAX_NAME = 200
MAX_SCOPES = 32
SCOPE = re.compile(r"^[a-z][a-z_]{0,30}:[a-z][a-z_]{0,30}$")
CLIENT_ID_PREFIX = "ic_"
CLIENT_ID = re.compile(r"^ic_[0-9a-f]{20}$")
DEFAULT_GRACE_SECONDS = 86_400
MAX_GRACE_SECONDS = 30 * 86_400
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class IntegrationClient:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    secret_rotated_at: datetime
    previous_secret_expires_at: datetime | None = None
    revoked_at: datetime | None = None
    version: int = 1

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class Secrets:
    """The stored hashes of a client's secrets (never the secrets)."""

    current: str
    previous: str = ""
    previous_expires_at: datetime | None = None

    def accepts(self, secret: str, now: datetime) -> bool:
        offered = hash_secret(secret)
        current = hmac.compare_digest(offered, self.current)
        previous = (
            bool(self.previous)
            and self.previous_expires_at is not None
            and now < self.previous_expires_at
            and hmac.compare_digest(offered, self.previous)
        )
        return current or previous


def is_client_id(value: str) -> bool:
    """Whether `value` can be a client id (anything else is no client, and never reaches a query)."""
    return bool(CLIENT_ID.match(value))


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_hex(10)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_new_client(name: str, scopes: tuple[str, ...], request_id: str) -> None:
    violations = Violations()
    violations.check(bool(name.strip()), "name", "is required")
    violations.check(
        len(name) <= MAX_NAME and name.isprintable(), "name", f"must be up to {MAX_NAME} printable characters"
    )
    violations.check(1 <= len(scopes) <= MAX_SCOPES, "scopes", f"must hold 1 to {MAX_SCOPES} scopes")
    for index, scope in enumerate(scopes):
        violations.check(bool(SCOPE.match(scope)), f"scopes[{index}]", "must look like area:action (e.g. catalog:read)")
    violations.check(
        len(request_id) <= MAX_REQUEST_ID and request_id.isprintable(),
        "request_id",
        f"must be at most {MAX_REQUEST_ID} printable characters",
    )
    violations.raise_if_any()


def check_grace(grace_seconds: int) -> int:
    """The grace period of the previous secret: the default when 0."""
    violations = Violations()
    violations.check(0 <= grace_seconds <= MAX_GRACE_SECONDS, "grace_seconds", f"must be 0-{MAX_GRACE_SECONDS}")
    violations.raise_if_any()
    return grace_seconds or DEFAULT_GRACE_SECONDS
