"""Locations, stock administration, thresholds and availability over a real gRPC channel."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from google.protobuf.field_mask_pb2 import FieldMask

from shop.common.v1 import common_pb2
from shop.inventory.v1 import events_pb2, inventory_pb2
from shop_inventory import domain, events, store
from shop_inventory.demo import demo_inventory, seed_demo
from shopkit.auth import metadata_for
from shopkit.errors import PreconditionViolation

if TYPE_CHECKING:
    from conftest import Inventory

ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
CUSTOMER = metadata_for("customer", customer_id="c-1")
WAREHOUSE = inventory_pb2.LOCATION_TYPE_WAREHOUSE
STORE = inventory_pb2.LOCATION_TYPE_STORE


def new_location(**fields: object) -> inventory_pb2.Location:
    values: dict[str, object] = {
        "location_id": f"st-{uuid.uuid4().hex[:10]}",
        "type": STORE,
        "name": "Berlin Mitte",
        "country": "DE",
        "priority": 10,
        "click_and_collect": True,
        "active": True,
        "address": common_pb2.Address(line1="Rosenthaler Str. 40", city="Berlin", postal_code="10178"),
    }
    values.update(fields)
    return inventory_pb2.Location(**values)  # type: ignore[arg-type]


# --- locations ----------------------------------------------------------------------------------


async def test_create_get_update_and_list_locations(inventory: Inventory) -> None:
    wanted = new_location(country="AT")
    created = await inventory.stub.CreateLocation(inventory_pb2.CreateLocationRequest(location=wanted), metadata=ADMIN)

    assert created.location_id == wanted.location_id and created.click_and_collect and created.active
    assert created.address.city == "Berlin" and created.address.country == "AT"
    assert created.created_at.seconds > 0
    again = await inventory.stub.CreateLocation(inventory_pb2.CreateLocationRequest(location=wanted), metadata=SERVICE)
    assert again == created
    conflict = await inventory.fails(
        inventory.stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(location=new_location(location_id=wanted.location_id, name="Other")),
            metadata=ADMIN,
        )
    )
    assert conflict.code is grpc.StatusCode.ALREADY_EXISTS

    change = inventory_pb2.Location(location_id=wanted.location_id, priority=5, active=False, name="ignored")
    updated = await inventory.stub.UpdateLocation(
        inventory_pb2.UpdateLocationRequest(location=change, update_mask=FieldMask(paths=["priority", "active"])),
        metadata=ADMIN,
    )
    assert (updated.priority, updated.active, updated.name) == (5, False, "Berlin Mitte")
    fetched = await inventory.stub.GetLocation(
        inventory_pb2.GetLocationRequest(location_id=wanted.location_id), metadata=ADMIN
    )
    assert fetched == updated

    listed = await inventory.stub.ListLocations(
        inventory_pb2.ListLocationsRequest(country="AT", include_inactive=True), metadata=ADMIN
    )
    assert wanted.location_id in [loc.location_id for loc in listed.locations]
    active_only = await inventory.stub.ListLocations(inventory_pb2.ListLocationsRequest(country="AT"), metadata=ADMIN)
    assert wanted.location_id not in [loc.location_id for loc in active_only.locations]


async def test_list_locations_pages_and_filters(inventory: Inventory) -> None:
    country = "NZ"
    ids = [await inventory.location("wh", country=country) for _ in range(3)]
    ids += [await inventory.location("st", country=country, click_and_collect=True) for _ in range(2)]
    ids.sort()
    seen: list[str] = []
    token = ""
    while True:
        page = await inventory.stub.ListLocations(
            inventory_pb2.ListLocationsRequest(
                country=country, page=common_pb2.PageRequest(page_size=2, page_token=token)
            ),
            metadata=ADMIN,
        )
        seen.extend(loc.location_id for loc in page.locations)
        token = page.page.next_page_token
        if not token:
            break
    assert seen == ids
    pickup = await inventory.stub.ListLocations(
        inventory_pb2.ListLocationsRequest(country=country, click_and_collect_only=True), metadata=ADMIN
    )
    assert len(pickup.locations) == 2 and all(loc.type == STORE for loc in pickup.locations)
    warehouses = await inventory.stub.ListLocations(
        inventory_pb2.ListLocationsRequest(country=country, type=WAREHOUSE), metadata=ADMIN
    )
    assert len(warehouses.locations) == 3


async def test_bad_locations_are_invalid_argument_and_change_nothing(inventory: Inventory) -> None:
    bad = new_location(location_id="Bad Id", type=WAREHOUSE, name="", country="Germany", priority=-1)
    error = await inventory.fails(
        inventory.stub.CreateLocation(inventory_pb2.CreateLocationRequest(location=bad), metadata=ADMIN)
    )
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {
        "location.location_id",
        "location.name",
        "location.country",
        "location.priority",
        "location.click_and_collect",
    }
    warehouse = await inventory.location("wh")
    error = await inventory.fails(
        inventory.stub.UpdateLocation(
            inventory_pb2.UpdateLocationRequest(
                location=inventory_pb2.Location(location_id=warehouse, click_and_collect=True),
                update_mask=FieldMask(paths=["click_and_collect"]),
            ),
            metadata=ADMIN,
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, domain.PICKUP_NOT_AVAILABLE)
    error = await inventory.fails(
        inventory.stub.UpdateLocation(
            inventory_pb2.UpdateLocationRequest(
                location=inventory_pb2.Location(location_id=warehouse),
                update_mask=FieldMask(paths=["type"]),
            ),
            metadata=ADMIN,
        )
    )
    assert [v.field for v in error.violations] == ["update_mask.paths[0]"]
    missing = await inventory.fails(
        inventory.stub.GetLocation(inventory_pb2.GetLocationRequest(location_id="wh-missing"), metadata=ADMIN)
    )
    assert missing.code is grpc.StatusCode.NOT_FOUND
    stored = await inventory.stub.GetLocation(inventory_pb2.GetLocationRequest(location_id=warehouse), metadata=ADMIN)
    assert not stored.click_and_collect


# --- permissions ----------------------------------------------------------------------------------


async def test_admin_methods_need_the_admin_or_service_role(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    location = new_location()
    calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "CreateLocation": lambda md: inventory.stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(location=location), metadata=md
        ),
        "UpdateLocation": lambda md: inventory.stub.UpdateLocation(
            inventory_pb2.UpdateLocationRequest(
                location=inventory_pb2.Location(location_id=warehouse, name="x"), update_mask=FieldMask(paths=["name"])
            ),
            metadata=md,
        ),
        "ListLocations": lambda md: inventory.stub.ListLocations(inventory_pb2.ListLocationsRequest(), metadata=md),
        "AdjustStock": lambda md: inventory.stub.AdjustStock(
            inventory_pb2.AdjustStockRequest(
                adjustment_id="adj-perm", sku=sku, location_id=warehouse, delta=5, reason="found"
            ),
            metadata=md,
        ),
        "SetStock": lambda md: inventory.stub.SetStock(
            inventory_pb2.SetStockRequest(
                entries=[inventory_pb2.SetStockEntry(sku=sku, location_id=warehouse, on_hand=5)]
            ),
            metadata=md,
        ),
        "Restock": lambda md: inventory.stub.Restock(
            inventory_pb2.RestockRequest(
                restock_id="rs-perm", entries=[inventory_pb2.RestockEntry(sku=sku, location_id=warehouse, quantity=5)]
            ),
            metadata=md,
        ),
        "SetLowStockThresholds": lambda md: inventory.stub.SetLowStockThresholds(
            inventory_pb2.SetLowStockThresholdsRequest(
                thresholds=[inventory_pb2.LowStockThreshold(sku=sku, threshold=1)]
            ),
            metadata=md,
        ),
        "GetStockLevels": lambda md: inventory.stub.GetStockLevels(
            inventory_pb2.GetStockLevelsRequest(skus=[sku]), metadata=md
        ),
    }
    for name, call in calls.items():
        for metadata in (CUSTOMER, (), metadata_for("fraud_analyst")):
            error = await inventory.fails(call(metadata))
            assert error.code is grpc.StatusCode.PERMISSION_DENIED, name
    assert await inventory.levels(sku) == {}
    assert await inventory.sql("SELECT id FROM locations WHERE id = :id", id=location.location_id) == []
    # Availability is public.
    await inventory.stub.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=[sku]), metadata=CUSTOMER)


# --- stock administration -------------------------------------------------------------------------


async def test_adjust_stock_is_idempotent_and_never_goes_below_reserved(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")

    def adjust(adjustment_id: str, delta: int, reason: str = "cycle count") -> inventory_pb2.AdjustStockRequest:
        return inventory_pb2.AdjustStockRequest(
            adjustment_id=adjustment_id, sku=sku, location_id=warehouse, delta=delta, reason=reason
        )

    first = await inventory.stub.AdjustStock(adjust("adj-1-" + sku, 10), metadata=ADMIN)
    again = await inventory.stub.AdjustStock(adjust("adj-1-" + sku, 10), metadata=ADMIN)
    assert first.stock.on_hand == 10 and again == first
    await inventory.reserve(f"res-{sku}", {sku: 6})
    down = await inventory.stub.AdjustStock(adjust("adj-2-" + sku, -4, "damaged"), metadata=ADMIN)
    assert (down.stock.on_hand, down.stock.reserved, down.stock.available) == (6, 6, 0)

    below = await inventory.fails(inventory.stub.AdjustStock(adjust("adj-3-" + sku, -1), metadata=ADMIN))
    assert (below.code, below.reason) == (grpc.StatusCode.FAILED_PRECONDITION, domain.BELOW_RESERVED)
    assert below.preconditions == (
        PreconditionViolation(domain.BELOW_RESERVED, f"{sku}@{warehouse}", "on-hand would be 5, reserved is 6"),
    )
    reused = await inventory.fails(inventory.stub.AdjustStock(adjust("adj-1-" + sku, 3), metadata=ADMIN))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, domain.REQUEST_ID_REUSED)
    unknown = await inventory.fails(
        inventory.stub.AdjustStock(
            inventory_pb2.AdjustStockRequest(
                adjustment_id="adj-4-" + sku, sku=sku, location_id="wh-nowhere", delta=1, reason="found"
            ),
            metadata=ADMIN,
        )
    )
    assert unknown.code is grpc.StatusCode.NOT_FOUND
    assert await inventory.levels(sku) == {warehouse: (6, 6)}
    rows = await inventory.sql("SELECT id FROM stock_adjustments WHERE id LIKE :p ORDER BY id", p=f"adj-%-{sku}")
    assert [row.id for row in rows] == [f"adj-1-{sku}", f"adj-2-{sku}"]


async def test_bad_adjustments_are_invalid_argument_and_change_nothing(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 5})
    error = await inventory.fails(
        inventory.stub.AdjustStock(
            inventory_pb2.AdjustStockRequest(
                adjustment_id="", sku="no spaces", location_id=warehouse, delta=0, reason=" "
            ),
            metadata=ADMIN,
        )
    )
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"adjustment_id", "sku", "delta", "reason"}
    error = await inventory.fails(
        inventory.stub.SetStock(
            inventory_pb2.SetStockRequest(
                entries=[
                    inventory_pb2.SetStockEntry(sku=sku, location_id=warehouse, on_hand=-1),
                    inventory_pb2.SetStockEntry(sku=sku, location_id=warehouse, on_hand=3),
                ]
            ),
            metadata=ADMIN,
        )
    )
    assert {v.field for v in error.violations} == {"entries[0].on_hand", "entries[1]"}
    assert await inventory.levels(sku) == {warehouse: (5, 0)}


async def test_set_stock_and_restock_in_batches(inventory: Inventory) -> None:
    a, b = inventory.sku(), inventory.sku()
    first, second = await inventory.location("wh"), await inventory.location("st")
    result = await inventory.stub.SetStock(
        inventory_pb2.SetStockRequest(
            entries=[
                inventory_pb2.SetStockEntry(sku=a, location_id=first, on_hand=5),
                inventory_pb2.SetStockEntry(sku=b, location_id=second, on_hand=7),
            ]
        ),
        metadata=ADMIN,
    )
    assert [(s.sku, s.on_hand) for s in result.stock] == [(a, 5), (b, 7)]

    delivery = inventory_pb2.RestockRequest(
        restock_id=f"dn-{a}",
        reason="delivery",
        entries=[
            inventory_pb2.RestockEntry(sku=a, location_id=first, quantity=10),
            inventory_pb2.RestockEntry(sku=a, location_id=second, quantity=2),
        ],
    )
    restocked = await inventory.stub.Restock(delivery, metadata=SERVICE)
    repeated = await inventory.stub.Restock(delivery, metadata=SERVICE)
    assert [(s.location_id, s.on_hand) for s in restocked.stock] == [(first, 15), (second, 2)]
    assert repeated == restocked
    assert await inventory.levels(a) == {first: (15, 0), second: (2, 0)}

    await inventory.reserve(f"res-{b}", {b: 4})
    refused = await inventory.fails(
        inventory.stub.SetStock(
            inventory_pb2.SetStockRequest(
                entries=[
                    inventory_pb2.SetStockEntry(sku=a, location_id=first, on_hand=1),
                    inventory_pb2.SetStockEntry(sku=b, location_id=second, on_hand=3),
                ]
            ),
            metadata=ADMIN,
        )
    )
    assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, domain.BELOW_RESERVED)
    assert await inventory.levels(a) == {first: (15, 0), second: (2, 0)}
    assert await inventory.levels(b) == {second: (7, 4)}
    levels = await inventory.stub.GetStockLevels(inventory_pb2.GetStockLevelsRequest(skus=[b, a]), metadata=ADMIN)
    assert sorted((s.sku, s.location_id, s.on_hand, s.reserved, s.available) for s in levels.stock) == sorted(
        [
            (a, first, 15, 0, 15),
            (a, second, 2, 0, 2),
            (b, second, 7, 4, 3),
        ]
    )


async def test_low_stock_is_published_when_total_availability_crosses_the_threshold(inventory: Inventory) -> None:
    sku = inventory.sku()
    first, second = await inventory.location("wh"), await inventory.location("wh")
    thresholds = await inventory.stub.SetLowStockThresholds(
        inventory_pb2.SetLowStockThresholdsRequest(thresholds=[inventory_pb2.LowStockThreshold(sku=sku, threshold=10)]),
        metadata=ADMIN,
    )
    assert thresholds.thresholds[0].threshold == 10
    await inventory.stock(sku, {first: 8, second: 6})  # 14 available

    async def low_stock_events() -> list[events_pb2.LowStock]:
        payloads = await inventory.outbox_payloads(events.LOW_STOCK)
        return [e for e in map(events_pb2.LowStock.FromString, payloads) if e.sku == sku]

    await inventory.reserve(f"r1-{sku}", {sku: 3})  # 11: above
    assert await low_stock_events() == []
    await inventory.reserve(f"r2-{sku}", {sku: 2})  # 9: crossed
    await inventory.reserve(f"r3-{sku}", {sku: 1})  # 8: still low, no second event
    found = await low_stock_events()
    assert [(e.total_available, e.threshold) for e in found] == [(9, 10)]
    await inventory.stub.Release(
        inventory_pb2.ReleaseRequest(reservation_id=f"r1-{sku}"), metadata=SERVICE
    )  # back to 11
    await inventory.stub.AdjustStock(
        inventory_pb2.AdjustStockRequest(
            adjustment_id=f"adj-{sku}", sku=sku, location_id=second, delta=-2, reason="damaged"
        ),
        metadata=ADMIN,
    )  # 9
    assert [(e.total_available, e.threshold) for e in await low_stock_events()] == [(9, 10), (9, 10)]

    changes = [
        e
        for e in map(
            events_pb2.StockLevelChanged.FromString, await inventory.outbox_payloads(events.STOCK_LEVEL_CHANGED)
        )
        if e.sku == sku
    ]
    assert [e.cause for e in changes] == ["set", "set", "reserve", "reserve", "reserve", "release", "adjust"]
    assert changes[-1].total_available == 9 and changes[-1].location_id == second


# --- availability ---------------------------------------------------------------------------------


async def test_availability_per_sku_location_and_store(inventory: Inventory) -> None:
    sku, scarce, unknown = inventory.sku(), inventory.sku(), inventory.sku()
    warehouse = await inventory.location("wh", priority=10)
    pickup = await inventory.location("st", priority=1, click_and_collect=True)
    plain = await inventory.location("st", priority=2)
    closed = await inventory.location("wh", priority=1, active=False)
    await inventory.stock(sku, {warehouse: 20, pickup: 4, plain: 3, closed: 50})
    await inventory.stock(scarce, {warehouse: 2})
    await inventory.reserve(f"res-{sku}", {sku: 5})

    response = await inventory.stub.GetAvailability(
        inventory_pb2.GetAvailabilityRequest(skus=[sku, scarce, unknown, sku], store_id=pickup), metadata=CUSTOMER
    )

    by_sku = {a.sku: a for a in response.skus}
    assert [a.sku for a in response.skus] == [sku, scarce, unknown]
    main = by_sku[sku]
    assert (main.total_available, main.ship_available, main.store_available, main.low_stock) == (22, 22, 4, False)
    assert [(loc.location_id, loc.available, loc.click_and_collect) for loc in main.locations] == [
        (warehouse, 15, False),
        (pickup, 4, True),
        (plain, 3, False),
    ]
    assert (by_sku[scarce].total_available, by_sku[scarce].low_stock, by_sku[scarce].store_available) == (2, True, 0)
    assert (by_sku[unknown].total_available, list(by_sku[unknown].locations)) == (0, [])

    missing_store = await inventory.fails(
        inventory.stub.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=[sku], store_id="st-nowhere"))
    )
    assert missing_store.code is grpc.StatusCode.NOT_FOUND
    bad = await inventory.fails(inventory.stub.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=[])))
    assert [v.field for v in bad.violations] == ["skus"]


# --- demo data ----------------------------------------------------------------------------------------


async def test_demo_inventory_seeds_through_the_api_and_reseeds_harmlessly(inventory: Inventory) -> None:
    skus = [inventory.sku() for _ in range(3)]
    demo = demo_inventory(skus)
    warehouses = [loc for loc in demo.locations if loc.type == WAREHOUSE]
    pickup_stores = [loc for loc in demo.locations if loc.type == STORE and loc.click_and_collect]
    assert len({loc.country for loc in warehouses}) >= 3 and len(pickup_stores) >= 5
    assert demo_inventory(skus) == demo
    assert len(demo.stock) == len(skus) * len(demo.locations)

    await seed_demo(inventory.stub, skus)
    await seed_demo(inventory.stub, skus)

    response = await inventory.stub.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=skus))
    expected = {sku: sum(e.on_hand for e in demo.stock if e.sku == sku) for sku in skus}
    assert {a.sku: a.total_available for a in response.skus} == expected


async def test_the_migrations_create_what_the_tables_declare(inventory: Inventory) -> None:
    def differences(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, store.metadata))

    async with inventory.runtime.db.connect() as conn:
        assert await conn.run_sync(differences) == []
