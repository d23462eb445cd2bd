"""The dev issuer's side of machine clients: the client-credentials grant (RFC 6749 §4.4) and the
check, on each request, that a client's tokens were not revoked.

A client authenticates with its id and secret (HTTP Basic, or client_id and client_secret in the
form); the customers service, which keeps the clients, says whether they are right. The token is a
JWT signed like the issuer's user tokens: `sub` and `client_id` the client, `scope` the granted
scopes (space-separated), no role, short-lived (MACHINE_TOKEN_TTL_SECONDS). A revocation must end
tokens already out, so every request of a machine client asks whether it is revoked; the answer is
cached per replica for MACHINE_CLIENT_CACHE_SECONDS (the replica that revokes forgets at once).
With an external identity provider (production) the provider issues and revokes: this registry is
not consulted.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import grpc

from shop.customers.v1 import integration_clients_pb2 as pb
from shop.customers.v1 import integration_clients_pb2_grpc
from shop_gateway.app.shop import SERVICE_IDENTITY
from shop_gateway.settings import GatewaySettings
from shop_gateway.tokens import DevIssuer
from shopkit.errors import Unauthenticated, Unavailable

MAX_CLIENTS_CACHED = 10_000


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer of the token endpoint."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def credentials(authorization: str | None, form: dict[str, str]) -> ClientCredentials:
    """The client's id and secret from HTTP Basic (RFC 6749 §2.3.1: form-encoded, then base64) or the
    form body; both at once is invalid_request (§2.3: one method per request)."""
    in_body = "client_secret" in form
    if authorization and authorization.lower().startswith("basic "):
        if in_body:
            raise OAuthError("invalid_request", "authenticate with HTTP Basic or the form, not both")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "the Basic credentials are not base64", 401) from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "the Basic credentials are not id:secret", 401)
        return ClientCredentials(unquote_plus(client_id), unquote_plus(secret))
    if not in_body or not form.get("client_id"):
        raise OAuthError("invalid_client", "the client did not authenticate", 401)
    return ClientCredentials(form["client_id"], form["client_secret"])


def granted_scopes(requested: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The scopes of the token: the requested ones (each must be the client's), or all of the client's."""
    if requested is None or not requested.strip():
        return allowed
    wanted = tuple(dict.fromkeys(requested.split()))
    extra = [s for s in wanted if s not in allowed]
    if extra:
        raise OAuthError("invalid_scope", f"the client may not ask for {' '.join(extra)[:200]}")
    return wanted


def issue(issuer: DevIssuer, settings: GatewaySettings, client_id: str, scopes: tuple[str, ...]) -> tuple[str, int]:
    now = int(time.time())
    ttl = settings.machine_token_ttl_seconds
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": client_id,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return issuer.sign(claims), ttl


class ClientRegistry:
    """Asks the customers service about integration clients; caches whether each one is revoked."""

    def __init__(
        self,
        stub: integration_clients_pb2_grpc.IntegrationClientsServiceAsyncStub,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stub = stub
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._revoked: dict[str, tuple[bool, float]] = {}  # client id -> (revoked, when learnt)

    async def authenticate(self, found: ClientCredentials) -> pb.IntegrationClient:
        request = pb.AuthenticateIntegrationClientRequest(client_id=found.client_id, client_secret=found.client_secret)
        try:
            response = await self.stub.AuthenticateIntegrationClient(request, metadata=SERVICE_IDENTITY)
        except grpc.aio.AioRpcError as error:
            # Unknown, wrong or malformed (INVALID_ARGUMENT: e.g. a NUL in the id): the same answer.
            if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                raise OAuthError("invalid_client", "the client id or secret is not valid", 401) from None
            raise Unavailable("the client registry is unavailable; try again", reason="CLIENTS_UNAVAILABLE") from error
        client: pb.IntegrationClient = response.client
        return client

    async def check_active(self, client_id: str) -> None:
        """UNAUTHENTICATED (CLIENT_REVOKED) when the client was revoked or is unknown."""
        cached = self._revoked.get(client_id)
        now = self.clock()
        if cached is None or now - cached[1] >= self.cache_seconds:
            cached = (await self._ask(client_id, cached), now)
            if len(self._revoked) >= MAX_CLIENTS_CACHED:
                self._revoked.clear()  # a bound, not an LRU: clients are few; a refill costs one call each
            self._revoked[client_id] = cached
        if cached[0]:
            raise Unauthenticated("the client's tokens were revoked", reason="CLIENT_REVOKED")

    def forget(self, client_id: str) -> None:
        self._revoked.pop(client_id, None)

    async def _ask(self, client_id: str, cached: tuple[bool, float] | None) -> bool:
        try:
            response = await self.stub.GetIntegrationClient(
                pb.GetIntegrationClientRequest(client_id=client_id), metadata=SERVICE_IDENTITY
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                return True
            if cached is not None:
                return cached[0]  # the registry is down: keep what was known
            raise Unavailable("the client registry is unavailable; try again", reason="CLIENTS_UNAVAILABLE") from error
        return bool(response.client.revoked)


def oauth_error_body(error: OAuthError) -> dict[str, Any]:
    return {"error": error.error, "error_description": error.description}
