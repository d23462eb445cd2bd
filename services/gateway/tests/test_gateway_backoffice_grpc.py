"""The back office over gRPC (BackOfficeService, beside StorefrontService on the gateway's gRPC port) against
the REAL catalog, pricing and inventory: the same use cases and roles as over HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop.pricing.v1 import pricing_pb2
from shop.storefront.v1 import backoffice_pb2, backoffice_pb2_grpc
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client


@pytest.fixture(scope="module")
async def office(gateway: Client) -> AsyncIterator[backoffice_pb2_grpc.BackOfficeServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        yield backoffice_pb2_grpc.BackOfficeServiceStub(channel)  # type: ignore[no-untyped-call]


async def bearer(gateway: Client, role: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {await gateway.token(role=role)}"),)


async def test_locations_stock_and_prices_over_grpc(
    gateway: Client, office: backoffice_pb2_grpc.BackOfficeServiceAsyncStub
) -> None:
    admin = await bearer(gateway, "admin")
    seeded = await gateway.seed_product(prices=(1000,), stock=(2,))
    sku = seeded.skus[0]
    location_id = gateway.unique("wh").lower()
    location = inventory_pb2.Location(location_id=location_id, type=inventory_pb2.LOCATION_TYPE_WAREHOUSE)
    location.name, location.country, location.active = "Grpc warehouse", "US", True
    created = await office.CreateLocation(inventory_pb2.CreateLocationRequest(location=location), metadata=admin)
    assert created.location_id == location_id
    restock = inventory_pb2.RestockRequest(
        restock_id=f"delivery-{uuid.uuid4()}",
        entries=[inventory_pb2.RestockEntry(sku=sku, location_id=location_id, quantity=4)],
    )
    for _ in range(2):
        delivered = await office.Restock(restock, metadata=admin)
    assert [(s.location_id, s.on_hand) for s in delivered.stock] == [(location_id, 4)]
    levels = await office.GetStockLevels(inventory_pb2.GetStockLevelsRequest(skus=[sku]), metadata=admin)
    assert sorted(s.on_hand for s in levels.stock) == [2, 4]

    rate = pricing_pb2.ExchangeRate(base_currency="USD", quote_currency="NOK", rate="10.5")
    set_rate = await office.SetRate(pricing_pb2.SetRateRequest(rate=rate), metadata=admin)
    assert set_rate.rate.rate == "10.5"
    changes = await office.ListPriceChanges(pricing_pb2.ListPriceChangesRequest(sku=sku), metadata=admin)
    assert [c.new_price.amount for c in changes.changes] == [1000]


async def test_a_product_import_streamed_over_grpc(
    gateway: Client, office: backoffice_pb2_grpc.BackOfficeServiceAsyncStub
) -> None:
    admin = await bearer(gateway, "admin")
    category = gateway.unique("grpc-imp")
    made = await gateway.http.post(
        "/v1/categories", json={"slug": category, "name": "Grpc"}, headers=await gateway.auth("admin")
    )
    assert made.status_code == 201, made.text
    slug = gateway.unique("grpc-product")
    line = json.dumps(
        {"slug": slug, "name": "Grpc product", "category_slug": category, "variants": [{"sku": slug.upper()}]}
    )

    async def upload() -> AsyncIterator[catalog_pb2.ImportProductsRequest]:
        yield catalog_pb2.ImportProductsRequest(lines=[line])
        yield catalog_pb2.ImportProductsRequest(lines=["{broken"])

    started = await office.StartProductImport(upload(), metadata=admin)
    assert started.lines_total == 2
    request = backoffice_pb2.GetProductImportRequest(import_id=started.import_id)
    for _ in range(300):
        progress = await office.GetProductImport(request, metadata=admin)
        if progress.status not in ("queued", "running"):  # the catalog queues it, then its worker runs it
            break
        await asyncio.sleep(0.05)
    assert (progress.status, progress.created, progress.failed) == ("done", 1, 1)
    report = await office.ListProductImportLines(
        backoffice_pb2.ListProductImportLinesRequest(import_id=started.import_id), metadata=admin
    )
    assert [(r.line, r.status) for r in report.lines] == [(1, "ok"), (2, "failed")]
    listed = await office.ListProductImports(backoffice_pb2.ListProductImportsRequest(page_size=100), metadata=admin)
    assert started.import_id in [job.import_id for job in listed.imports]


async def test_a_product_import_named_by_its_idempotency_key_over_grpc(
    gateway: Client, office: backoffice_pb2_grpc.BackOfficeServiceAsyncStub
) -> None:
    key = (("idempotency-key", f"nightly-{uuid.uuid4()}"),)
    admin = (*await bearer(gateway, "admin"), *key)

    def upload(*lines: str) -> AsyncIterator[catalog_pb2.ImportProductsRequest]:
        async def messages() -> AsyncIterator[catalog_pb2.ImportProductsRequest]:
            yield catalog_pb2.ImportProductsRequest(lines=list(lines))

        return messages()

    first = await office.StartProductImport(upload("{broken"), metadata=admin)
    again = await office.StartProductImport(upload("{broken"), metadata=admin)
    assert again.import_id == first.import_id
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await office.StartProductImport(upload("{other"), metadata=admin)
    info = parse_rpc_error(reused.value)
    assert (info.code, info.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_roles_over_grpc(gateway: Client, office: backoffice_pb2_grpc.BackOfficeServiceAsyncStub) -> None:
    customer = await bearer(gateway, "customer")
    calls = (
        office.ListLocations(inventory_pb2.ListLocationsRequest(), metadata=customer),
        office.ListRates(pricing_pb2.ListRatesRequest(), metadata=customer),
        office.SearchOrders(backoffice_pb2.SearchOrdersRequest(), metadata=customer),
        office.GetProductImport(backoffice_pb2.GetProductImportRequest(import_id="x"), metadata=customer),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        info = parse_rpc_error(refused.value)
        assert (info.code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await office.ListRates(pricing_pb2.ListRatesRequest())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    admin = await bearer(gateway, "admin")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        amount = common_pb2.Money(amount=1, currency="USD")
        tier = pricing_pb2.PriceTier(min_quantity=0, unit_price=amount)
        entries = [pricing_pb2.PriceListEntry(sku="X", tiers=[tier])]
        await office.SetPriceListEntries(
            pricing_pb2.SetPriceListEntriesRequest(price_list_id=gateway.unique("none"), entries=entries),
            metadata=admin,
        )
    assert bad.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
