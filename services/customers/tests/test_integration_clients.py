"""Integration clients through the running service: created with a secret shown once (idempotent by
request id), authenticated, rotated with a grace period for the old secret, revoked; admins only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from shop.customers.v1 import events_pb2, integration_clients_pb2_grpc
from shop.customers.v1 import integration_clients_pb2 as pb
from shop_customers.integrations import access
from shop_customers.integrations.domain import Secrets, hash_secret
from shopkit.auth import metadata_for
from shopkit.testing import grpc_address, published_event

SERVICE = metadata_for("service")


@pytest.fixture
async def clients(stack: Any) -> Any:
    async with grpc.aio.insecure_channel(grpc_address(stack.runtime)) as channel:
        yield integration_clients_pb2_grpc.IntegrationClientsServiceStub(channel)  # type: ignore[no-untyped-call]


async def _create(
    clients: Any, stack: Any, scopes: tuple[str, ...] = ("catalog:read",)
) -> pb.CreateIntegrationClientResponse:
    request = pb.CreateIntegrationClientRequest(name="ERP", scopes=list(scopes), request_id=uuid.uuid4().hex)
    response: pb.CreateIntegrationClientResponse = await clients.CreateIntegrationClient(request, metadata=stack.admin)
    return response


def test_the_allow_list_names_every_method() -> None:
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["IntegrationClientsService"].methods}
    assert set(access.CALLERS) == methods


async def test_a_client_is_created_once_per_request_id_and_its_secret_shown_once(clients: Any, stack: Any) -> None:
    request = pb.CreateIntegrationClientRequest(
        name="ERP", scopes=["catalog:read", "inventory:write"], request_id="r-1"
    )
    first = await clients.CreateIntegrationClient(request, metadata=stack.admin)
    again = await clients.CreateIntegrationClient(request, metadata=stack.admin)
    assert first.client.client_id.startswith("ic_") and len(first.client_secret) >= 40
    assert again.client.client_id == first.client.client_id and again.client_secret == ""
    assert list(first.client.scopes) == ["catalog:read", "inventory:write"]
    found = await clients.AuthenticateIntegrationClient(
        pb.AuthenticateIntegrationClientRequest(client_id=first.client.client_id, client_secret=first.client_secret),
        metadata=SERVICE,
    )
    assert found.client.client_id == first.client.client_id


async def test_bad_input_names_its_fields_and_stores_nothing(clients: Any, stack: Any) -> None:
    before = len(
        (await clients.ListIntegrationClients(pb.ListIntegrationClientsRequest(), metadata=stack.admin)).clients
    )
    error = await stack.failure(
        clients.CreateIntegrationClient(
            pb.CreateIntegrationClientRequest(name="", scopes=["Catalog Read"], request_id="a\tb"),
            metadata=stack.admin,
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"name", "scopes[0]", "request_id"}
    after = len(
        (await clients.ListIntegrationClients(pb.ListIntegrationClientsRequest(), metadata=stack.admin)).clients
    )
    assert after == before


async def test_only_admins_and_the_gateway_itself_manage_clients(clients: Any, stack: Any) -> None:
    error = await stack.failure(
        clients.CreateIntegrationClient(
            pb.CreateIntegrationClientRequest(name="x", scopes=["catalog:read"]), metadata=stack.shopper("cus-1")
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_wrong_secret_or_unknown_client_is_invalid_client(clients: Any, stack: Any) -> None:
    created = await _create(clients, stack)
    for client_id, secret in ((created.client.client_id, "wrong"), ("ic_unknown", created.client_secret), ("", "")):
        error = await stack.failure(
            clients.AuthenticateIntegrationClient(
                pb.AuthenticateIntegrationClientRequest(client_id=client_id, client_secret=secret), metadata=SERVICE
            )
        )
        assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CLIENT")


async def test_rotation_keeps_the_old_secret_for_the_grace_period_and_revocation_ends_both(
    clients: Any, stack: Any
) -> None:
    created = await _create(clients, stack)
    client_id = created.client.client_id
    rotated = await clients.RotateIntegrationClientSecret(
        pb.RotateIntegrationClientSecretRequest(client_id=client_id, grace_seconds=600), metadata=stack.admin
    )
    assert rotated.client_secret != created.client_secret and rotated.client.version == 2
    assert rotated.client.HasField("previous_secret_expires_at")
    for secret in (created.client_secret, rotated.client_secret):
        request = pb.AuthenticateIntegrationClientRequest(client_id=client_id, client_secret=secret)
        assert (await clients.AuthenticateIntegrationClient(request, metadata=SERVICE)).client.client_id == client_id

    revoke = pb.RevokeIntegrationClientRequest(client_id=client_id)
    revoked = await clients.RevokeIntegrationClient(revoke, metadata=stack.admin)
    again = await clients.RevokeIntegrationClient(revoke, metadata=stack.admin)
    assert revoked.client.revoked and again.client.revoked_at == revoked.client.revoked_at
    for secret in (created.client_secret, rotated.client_secret):
        request = pb.AuthenticateIntegrationClientRequest(client_id=client_id, client_secret=secret)
        error = await stack.failure(clients.AuthenticateIntegrationClient(request, metadata=SERVICE))
        assert error.reason == "INVALID_CLIENT"
    error = await stack.failure(
        clients.RotateIntegrationClientSecret(
            pb.RotateIntegrationClientSecretRequest(client_id=client_id), metadata=stack.admin
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CLIENT_REVOKED")
    got = await clients.GetIntegrationClient(pb.GetIntegrationClientRequest(client_id=client_id), metadata=SERVICE)
    assert got.client.revoked


async def test_an_unknown_client_is_not_found(clients: Any, stack: Any) -> None:
    for client_id in ("ic_none", "ic_" + "0" * 20, "' OR 1=1 --"):
        error = await stack.failure(
            clients.GetIntegrationClient(pb.GetIntegrationClientRequest(client_id=client_id), metadata=SERVICE)
        )
        assert error.code == grpc.StatusCode.NOT_FOUND
        error = await stack.failure(
            clients.RevokeIntegrationClient(pb.RevokeIntegrationClientRequest(client_id=client_id), metadata=SERVICE)
        )
        assert error.code == grpc.StatusCode.NOT_FOUND


def test_the_previous_secret_expires_with_its_grace_period() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    held = Secrets(hash_secret("new"), hash_secret("old"), now + timedelta(seconds=60))
    assert held.accepts("new", now) and held.accepts("old", now)
    assert not held.accepts("old", now + timedelta(seconds=60)) and held.accepts("new", now + timedelta(days=9))
    assert not held.accepts("other", now)


async def test_each_change_of_a_client_is_published_without_its_secret(clients: Any, stack: Any) -> None:
    created = await _create(clients, stack)
    client_id = created.client.client_id
    await clients.RotateIntegrationClientSecret(
        pb.RotateIntegrationClientSecretRequest(client_id=client_id), metadata=stack.admin
    )
    revoke = pb.RevokeIntegrationClientRequest(client_id=client_id)
    await clients.RevokeIntegrationClient(revoke, metadata=stack.admin)
    await clients.RevokeIntegrationClient(revoke, metadata=stack.admin)  # changes nothing: no event

    changes: list[events_pb2.IntegrationClientChanged] = []
    for change in ("created", "secret_rotated", "revoked"):

        def about(payload: bytes, change: str = change) -> bool:
            event = events_pb2.IntegrationClientChanged.FromString(payload)
            return event.client.client_id == client_id and event.change == change

        found = await published_event(stack.nats_url, "shop.customers.integration_client_changed", about)
        changes.append(events_pb2.IntegrationClientChanged.FromString(found))
        assert created.client_secret.encode() not in found
    assert [(c.client.version, c.client.revoked) for c in changes] == [(1, False), (2, False), (3, True)]
