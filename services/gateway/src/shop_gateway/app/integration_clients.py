"""Integration clients (machine clients of the client-credentials grant) through the admin API (role
admin): create with scopes from the vocabulary (the secret is answered once), rotate, revoke, read.
The customers service keeps them; a revocation also drops this replica's cached state of the client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.message import Message

from shop.customers.v1 import integration_clients_pb2 as pb
from shop_gateway.app.access import require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shop_gateway.scopes import SCOPES
from shopkit.errors import Violations

SERVICE = "customers"


@dataclass(frozen=True)
class IntegrationClient:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    revoked: bool
    created_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None
    revoked_at: datetime | None
    client_secret: str = ""  # only in the answer that made it


def _time(
    message: pb.IntegrationClient,
    name: Literal["created_at", "secret_rotated_at", "previous_secret_expires_at", "revoked_at"],
) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def client_of(message: pb.IntegrationClient, secret: str = "") -> IntegrationClient:
    return IntegrationClient(
        client_id=message.client_id,
        name=message.name,
        scopes=tuple(message.scopes),
        revoked=message.revoked,
        created_at=_time(message, "created_at"),
        secret_rotated_at=_time(message, "secret_rotated_at"),
        previous_secret_expires_at=_time(message, "previous_secret_expires_at"),
        revoked_at=_time(message, "revoked_at"),
        client_secret=secret,
    )


def check_scopes(violations: Violations, scopes: Sequence[str], field: str = "scopes") -> None:
    violations.check(bool(scopes), field, "must name at least one scope")
    for index, scope in enumerate(scopes):
        violations.check(scope in SCOPES, f"{field}[{index}]", f"must be one of {', '.join(SCOPES)}")


async def call(shop: Shop, who: Principal, method: str, request: Message) -> Any:
    """One of customers' IntegrationClientsService RPCs for an admin (HTTP and gRPC call through here)."""
    require_admin(who)
    if isinstance(request, pb.CreateIntegrationClientRequest):
        violations = Violations()
        check_scopes(violations, request.scopes)
        violations.raise_if_any()
    with upstream(SERVICE):
        return await getattr(shop.backends.integration_clients, method)(request, metadata=who.metadata())


async def create(shop: Shop, who: Principal, name: str, scopes: Sequence[str], request_id: str) -> IntegrationClient:
    request = pb.CreateIntegrationClientRequest(name=name, scopes=list(scopes), request_id=request_id)
    response = await call(shop, who, "CreateIntegrationClient", request)
    return client_of(response.client, response.client_secret)


async def rotate(shop: Shop, who: Principal, client_id: str, grace_seconds: int) -> IntegrationClient:
    request = pb.RotateIntegrationClientSecretRequest(client_id=client_id, grace_seconds=grace_seconds)
    response = await call(shop, who, "RotateIntegrationClientSecret", request)
    return client_of(response.client, response.client_secret)


async def revoke(shop: Shop, who: Principal, client_id: str) -> IntegrationClient:
    response = await call(shop, who, "RevokeIntegrationClient", pb.RevokeIntegrationClientRequest(client_id=client_id))
    return client_of(response.client)


async def get(shop: Shop, who: Principal, client_id: str) -> IntegrationClient:
    response = await call(shop, who, "GetIntegrationClient", pb.GetIntegrationClientRequest(client_id=client_id))
    return client_of(response.client)


async def list_all(shop: Shop, who: Principal) -> list[IntegrationClient]:
    response = await call(shop, who, "ListIntegrationClients", pb.ListIntegrationClientsRequest())
    return [client_of(c) for c in response.clients]
