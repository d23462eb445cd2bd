"""The integrations over gRPC (IntegrationsService, beside StorefrontService on the gateway's gRPC port)
against the REAL inventory, pricing and customers: an ERP stock feed sent, followed and reported, the same
feed id again one effect; machine clients created, scoped and revoked; the same rules as over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.common.v1 import feed_pb2
from shop.customers.v1 import integration_clients_pb2 as clients_pb
from shop.inventory.v1 import inventory_pb2
from shop.storefront.v1 import integrations_pb2 as pb
from shop.storefront.v1 import integrations_pb2_grpc
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

if TYPE_CHECKING:
    Stub = integrations_pb2_grpc.IntegrationsServiceAsyncStub
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
async def gateway(make_gateway: GatewayFactory) -> AsyncIterator[Client]:
    """A gateway that checks a machine client's revocation on every request."""
    async with make_gateway(machine_client_cache_seconds=0.0) as client:
        yield client


@pytest.fixture(scope="module")
async def stub(gateway: Client) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        yield integrations_pb2_grpc.IntegrationsServiceStub(channel)  # type: ignore[no-untyped-call]


async def bearer(gateway: Client, role: str) -> Metadata:
    return (("authorization", f"Bearer {await gateway.token(role=role)}"),)


async def finished(stub: Stub, feed: feed_pb2.Feed, metadata: Metadata) -> feed_pb2.Feed:
    deadline = time.monotonic() + 30
    while feed.status in (feed_pb2.FEED_STATUS_QUEUED, feed_pb2.FEED_STATUS_RUNNING):
        assert time.monotonic() < deadline, feed
        await asyncio.sleep(0.1)
        feed = await stub.GetStockFeed(feed_pb2.GetFeedRequest(id=feed.id), metadata=metadata)
    return feed


async def on_hand(gateway: Client, sku: str) -> dict[str, int]:
    request = inventory_pb2.GetStockLevelsRequest(skus=[sku])
    found = await gateway.backends.inventory.GetStockLevels(request, metadata=metadata_for("admin"))
    return {level.location_id: level.on_hand for level in found.stock}


async def test_a_stock_feed_over_grpc_applies_once_with_its_report(gateway: Client, stub: Stub) -> None:
    admin = await bearer(gateway, "admin")
    warehouse, store = gateway.backends.locations
    sku = gateway.unique("grpc-feed").upper()
    lines = ["sku,location_id,on_hand", f"{sku},{warehouse},12", f"{sku},{store},many"]
    request = pb.StartFeedRequest(feed_id=gateway.unique("erp"), lines=lines, content_type="text/csv")

    done = await finished(stub, await stub.StartStockFeed(request, metadata=admin), admin)
    assert (done.status, done.lines_total, done.applied, done.failed) == (feed_pb2.FEED_STATUS_DONE, 3, 1, 1)
    report = await stub.ListStockFeedLines(feed_pb2.ListFeedLinesRequest(id=done.id, failed_only=True), metadata=admin)
    assert [(line.line, [v.field for v in line.field_violations]) for line in report.lines] == [(3, ["on_hand"])]
    assert await on_hand(gateway, sku) == {warehouse: 12}

    again = await stub.StartStockFeed(request, metadata=admin)
    assert again.id == done.id
    other = pb.StartFeedRequest(
        feed_id=request.feed_id, lines=[*lines[:2], f"{sku},{store},3"], content_type="text/csv"
    )
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stub.StartStockFeed(other, metadata=admin)
    assert reused.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert parse_rpc_error(reused.value).reason == "REQUEST_ID_REUSED"


async def test_bad_feeds_and_callers_are_refused_with_the_http_rules(gateway: Client, stub: Stub) -> None:
    admin = await bearer(gateway, "admin")
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await stub.StartPriceFeed(pb.StartFeedRequest(feed_id="erp-empty", lines=["", " "]), metadata=admin)
    assert nothing.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in parse_rpc_error(nothing.value).violations] == ["body"]
    customer = await bearer(gateway, "customer")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.StartStockFeed(pb.StartFeedRequest(feed_id="erp-x", lines=["{}"]), metadata=customer)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.ListIntegrationClients(clients_pb.ListIntegrationClientsRequest())
    assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_machine_client_made_over_grpc_acts_within_its_scope_until_revoked(gateway: Client, stub: Stub) -> None:
    admin = await bearer(gateway, "admin")
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        request = clients_pb.CreateIntegrationClientRequest(name="ERP", scopes=["stock:everything"], request_id="r-1")
        await stub.CreateIntegrationClient(request, metadata=admin)
    assert [v.field for v in parse_rpc_error(unknown.value).violations] == ["scopes[0]"]

    request = clients_pb.CreateIntegrationClientRequest(
        name="ERP", scopes=["inventory:write"], request_id=gateway.unique("req")
    )
    created = await stub.CreateIntegrationClient(request, metadata=admin)
    assert created.client_secret and list(created.client.scopes) == ["inventory:write"]
    form = {"grant_type": "client_credentials"}
    issued = await gateway.http.post(
        "/v1/oauth/token", data=form, auth=(created.client.client_id, created.client_secret)
    )
    assert issued.status_code == 200, issued.text
    machine = (("authorization", f"Bearer {issued.json()['access_token']}"),)

    sku = gateway.unique("erp-sku").upper()
    feed = pb.StartFeedRequest(
        feed_id=gateway.unique("erp"),
        lines=[f'{{"sku": "{sku}", "location_id": "{gateway.backends.locations[0]}", "on_hand": 3}}'],
    )
    assert (await finished(stub, await stub.StartStockFeed(feed, metadata=machine), machine)).applied == 1
    with pytest.raises(grpc.aio.AioRpcError) as unscoped:
        await stub.StartPriceFeed(pb.StartFeedRequest(feed_id="erp-price", lines=["{}"]), metadata=machine)
    assert (unscoped.value.code(), parse_rpc_error(unscoped.value).reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "INSUFFICIENT_SCOPE",
    )
    with pytest.raises(grpc.aio.AioRpcError) as people_only:
        await stub.ListIntegrationClients(clients_pb.ListIntegrationClientsRequest(), metadata=machine)
    assert parse_rpc_error(people_only.value).reason == "INSUFFICIENT_SCOPE"

    listed = await stub.ListIntegrationClients(clients_pb.ListIntegrationClientsRequest(), metadata=admin)
    assert created.client.client_id in [c.client_id for c in listed.clients]
    revoke = clients_pb.RevokeIntegrationClientRequest(client_id=created.client.client_id)
    assert (await stub.RevokeIntegrationClient(revoke, metadata=admin)).client.revoked
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetStockFeed(feed_pb2.GetFeedRequest(id="x"), metadata=machine)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
