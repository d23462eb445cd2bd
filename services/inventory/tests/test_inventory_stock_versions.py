"""Stock versions: every StockLevelChanged of a SKU takes the SKU's next version in commit order, and
ListStockTotals reports each SKU's total with the version of the change that made it, so that a reader
(catalog's search projection) orders its reads and the events by one number."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from shop.common.v1 import common_pb2
from shop.inventory.v1 import events_pb2, inventory_pb2
from shop_inventory import events
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Inventory

ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")


async def changes_of(inventory: Inventory, sku: str) -> list[events_pb2.StockLevelChanged]:
    found = [
        events_pb2.StockLevelChanged.FromString(p) for p in await inventory.outbox_payloads(events.STOCK_LEVEL_CHANGED)
    ]
    return [c for c in found if c.sku == sku]


async def totals(inventory: Inventory, page_size: int = 0) -> dict[str, tuple[int, int]]:
    """sku -> (total available, stock version), every page."""
    found: dict[str, tuple[int, int]] = {}
    token = ""
    while True:
        request = inventory_pb2.ListStockTotalsRequest(
            page=common_pb2.PageRequest(page_size=page_size, page_token=token)
        )
        response = await inventory.stub.ListStockTotals(request, metadata=SERVICE)
        skus = [t.sku for t in response.totals]
        assert skus == sorted(skus) and not set(skus) & set(found)
        found.update({t.sku: (t.total_available, t.stock_version) for t in response.totals})
        token = response.page.next_page_token
        if not token:
            return found


async def test_each_change_takes_the_next_version_and_the_read_reports_the_last(inventory: Inventory) -> None:
    sku = inventory.sku()
    north, south, closed = await inventory.location(), await inventory.location(), await inventory.location()
    await inventory.stock(sku, {north: 5, south: 3, closed: 7})
    await inventory.stub.UpdateLocation(
        inventory_pb2.UpdateLocationRequest(
            location=inventory_pb2.Location(location_id=closed, active=False), update_mask=FieldMask(paths=["active"])
        ),
        metadata=ADMIN,
    )
    await inventory.reserve(f"res-{sku}", {sku: 2})
    await inventory.stub.Release(inventory_pb2.ReleaseRequest(reservation_id=f"res-{sku}"), metadata=SERVICE)

    changes = await changes_of(inventory, sku)
    assert [c.stock_version for c in changes] == list(range(1, len(changes) + 1))
    assert changes[-1].cause == "release"
    listed = await totals(inventory, page_size=1)
    # The closed location's stock is not available anywhere: the read leaves it out like the events.
    assert listed[sku] == (changes[-1].total_available, changes[-1].stock_version) == (8, len(changes))


async def test_concurrent_reserves_of_one_sku_take_distinct_versions_in_commit_order(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location()
    await inventory.stock(sku, {warehouse: 40})
    # Grouped into shared transactions or not, every event gets its own version.
    await asyncio.gather(*(inventory.reserve(f"res-{sku}-{i}", {sku: 1}) for i in range(20)))
    changes = await changes_of(inventory, sku)
    assert sorted(c.stock_version for c in changes) == list(range(1, 22))
    by_version = sorted(changes, key=lambda c: c.stock_version)
    # Version order is the order of the changes: availability only falls after the first set.
    assert [c.total_available for c in by_version] == list(range(40, 19, -1))
    assert (await totals(inventory))[sku] == (20, 21)


async def test_a_read_during_changes_reports_the_total_of_the_version_it_names(inventory: Inventory) -> None:
    """The race the projection depends on: whatever a read returns, the event with the same version
    carries the same total, so keeping the larger version orders reads and events alike."""
    sku = inventory.sku()
    warehouse = await inventory.location()
    await inventory.stock(sku, {warehouse: 100})
    reads: list[tuple[int, int]] = []
    stop = asyncio.Event()

    async def read_while_writing() -> None:
        while not stop.is_set():
            reads.append((await totals(inventory))[sku])

    async def write() -> None:
        for i in range(30):
            delta = 1 if i % 3 == 0 else -1
            await inventory.stub.AdjustStock(
                inventory_pb2.AdjustStockRequest(
                    adjustment_id=f"adj-{sku}-{i}", sku=sku, location_id=warehouse, delta=delta, reason="count"
                ),
                metadata=ADMIN,
            )
        stop.set()

    await asyncio.gather(
        read_while_writing(), write(), *(inventory.reserve(f"r-{sku}-{i}", {sku: 1}) for i in range(10))
    )
    by_version = {c.stock_version: c.total_available for c in await changes_of(inventory, sku)}
    assert len(reads) > 1
    for total, version in reads:
        assert by_version[version] == total


async def test_only_admin_and_service_roles_list_totals(inventory: Inventory) -> None:
    error = await inventory.fails(
        inventory.stub.ListStockTotals(inventory_pb2.ListStockTotalsRequest(), metadata=metadata_for("customer", "c1"))
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("token", ["garbage!"])
async def test_a_token_it_did_not_issue_is_invalid_argument(inventory: Inventory, token: str) -> None:
    request = inventory_pb2.ListStockTotalsRequest(page=common_pb2.PageRequest(page_token=token))
    error = await inventory.fails(inventory.stub.ListStockTotals(request, metadata=SERVICE))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT


async def close_or_open(inventory: Inventory, location_id: str, *, active: bool) -> None:
    await inventory.stub.UpdateLocation(
        inventory_pb2.UpdateLocationRequest(
            location=inventory_pb2.Location(location_id=location_id, active=active),
            update_mask=FieldMask(paths=["active"]),
        ),
        metadata=ADMIN,
    )


async def test_closing_and_reopening_a_location_moves_each_of_its_skus_totals_and_versions(
    inventory: Inventory,
) -> None:
    kept, shut = inventory.sku(), inventory.sku()
    north, south = await inventory.location(), await inventory.location()
    await inventory.stock(kept, {north: 5, south: 3})
    await inventory.stock(shut, {south: 4})
    before = await changes_of(inventory, kept)

    await close_or_open(inventory, south, active=False)
    closed_kept, closed_shut = (
        (await changes_of(inventory, kept))[len(before) :],
        (await changes_of(inventory, shut))[-1],
    )
    assert [(c.cause, c.location_id, c.total_available) for c in closed_kept] == [("location_closed", south, 5)]
    assert (closed_shut.cause, closed_shut.total_available) == ("location_closed", 0)
    listed = await totals(inventory)
    assert listed[kept] == (5, closed_kept[-1].stock_version) and listed[shut] == (0, closed_shut.stock_version)

    await close_or_open(inventory, south, active=False)  # unchanged: no event
    assert len(await changes_of(inventory, kept)) == len(before) + 1

    await close_or_open(inventory, south, active=True)
    reopened = (await changes_of(inventory, kept))[-1]
    assert (reopened.cause, reopened.total_available, reopened.stock_version) == (
        "location_opened",
        8,
        closed_kept[-1].stock_version + 1,
    )
    assert (await totals(inventory))[shut][0] == 4
