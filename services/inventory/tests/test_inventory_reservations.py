"""Reserve, Commit, Release and expiry over a real gRPC channel, with the database as the witness."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.inventory.v1 import events_pb2, inventory_pb2
from shop_inventory import domain, events
from shop_inventory.domain import AllocationPolicy
from shop_inventory.operations import Inventory as Operations
from shopkit.auth import metadata_for
from shopkit.db import Database
from shopkit.errors import PreconditionViolation, parse_rpc_error

if TYPE_CHECKING:
    from conftest import Inventory

ACTIVE = inventory_pb2.RESERVATION_STATUS_ACTIVE
COMMITTED = inventory_pb2.RESERVATION_STATUS_COMMITTED
RELEASED = inventory_pb2.RESERVATION_STATUS_RELEASED
EXPIRED = inventory_pb2.RESERVATION_STATUS_EXPIRED
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
SERVICE = metadata_for("service")  # the checkout saga's role


def rid() -> str:
    return f"res-{uuid.uuid4().hex}"


def allocations(reservation: inventory_pb2.Reservation) -> dict[str, dict[str, int]]:
    return {line.sku: {a.location_id: a.quantity for a in line.allocations} for line in reservation.lines}


async def attempt(inventory: Inventory, sku: str) -> tuple[grpc.StatusCode, str]:
    try:
        await inventory.reserve(rid(), {sku: 1})
    except grpc.aio.AioRpcError as error:
        info = parse_rpc_error(error)
        return info.code, info.reason
    return grpc.StatusCode.OK, ""


async def reserve_concurrently(inventory: Inventory, sku: str, count: int) -> list[tuple[grpc.StatusCode, str]]:
    return list(await asyncio.gather(*(attempt(inventory, sku) for _ in range(count))))


def shortages(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The PreconditionFailure violations of an error: subject -> description."""
    return {v.subject: v.description for v in parse_rpc_error(error).preconditions}


async def reserve_error(
    inventory: Inventory, reservation_id: str, lines: dict[str, int], **options: object
) -> grpc.aio.AioRpcError:
    try:
        await inventory.reserve(reservation_id, lines, **options)  # type: ignore[arg-type]
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the reservation succeeded")


# --- never oversell ------------------------------------------------------------------------------


async def test_200_concurrent_reserves_against_50_units_reserve_exactly_50(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 50})

    outcomes = await reserve_concurrently(inventory, sku, 200)

    assert sum(code is grpc.StatusCode.OK for code, _ in outcomes) == 50
    failures = [(code, reason) for code, reason in outcomes if code is not grpc.StatusCode.OK]
    assert failures == [(FAILED_PRECONDITION, domain.INSUFFICIENT_STOCK)] * 150
    assert await inventory.levels(sku) == {warehouse: (50, 50)}
    rows = await inventory.sql(
        "SELECT count(*) AS n, sum(quantity) AS q FROM reservation_allocations WHERE sku = :sku", sku=sku
    )
    assert (rows[0].n, rows[0].q) == (50, 50)


async def test_200_concurrent_reserves_against_50_units_over_several_locations(inventory: Inventory) -> None:
    sku = inventory.sku()
    spread = {
        await inventory.location("wh", priority=10): 20,
        await inventory.location("wh", priority=20): 15,
        await inventory.location("st", priority=10, click_and_collect=True): 10,
        await inventory.location("st", priority=20): 5,
    }
    await inventory.stock(sku, spread)

    outcomes = await reserve_concurrently(inventory, sku, 200)

    assert sum(code is grpc.StatusCode.OK for code, _ in outcomes) == 50
    assert all(code is FAILED_PRECONDITION for code, _ in outcomes if code is not grpc.StatusCode.OK)
    assert await inventory.levels(sku) == {location: (units, units) for location, units in spread.items()}


# --- idempotency ----------------------------------------------------------------------------------


async def test_the_same_reservation_id_gives_the_same_reservation_and_reserves_once(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()

    first = await inventory.reserve(reservation_id, {sku: 3})
    again = await inventory.reserve(reservation_id, {sku: 3})
    concurrent = await asyncio.gather(*(inventory.reserve(reservation_id, {sku: 3}) for _ in range(10)))

    assert first.status == ACTIVE and allocations(first) == {sku: {warehouse: 3}}
    assert again == first
    assert all(r == first for r in concurrent)
    assert await inventory.levels(sku) == {warehouse: (10, 3)}

    fresh_id = rid()
    racing = await asyncio.gather(*(inventory.reserve(fresh_id, {sku: 2}) for _ in range(10)))
    assert len({r.SerializeToString() for r in racing}) == 1
    assert await inventory.levels(sku) == {warehouse: (10, 5)}


async def test_the_same_reservation_id_with_another_request_is_already_exists(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()
    await inventory.reserve(reservation_id, {sku: 3})

    error = parse_rpc_error(await reserve_error(inventory, reservation_id, {sku: 4}))

    assert error.code is grpc.StatusCode.ALREADY_EXISTS and error.reason == domain.REQUEST_ID_REUSED
    assert await inventory.levels(sku) == {warehouse: (10, 3)}


# --- allocation ---------------------------------------------------------------------------------


async def test_pickup_reserves_at_that_store_only(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh", priority=1)
    store = await inventory.location("st", click_and_collect=True)
    await inventory.stock(sku, {warehouse: 100, store: 3})

    reservation = await inventory.reserve(rid(), {sku: 2}, store_id=store)

    assert reservation.WhichOneof("fulfilment") == "pickup" and reservation.pickup.store_id == store
    assert allocations(reservation) == {sku: {store: 2}}
    assert await inventory.levels(sku) == {warehouse: (100, 0), store: (3, 2)}


async def test_pickup_fails_when_the_store_lacks_stock_even_if_warehouses_have_it(inventory: Inventory) -> None:
    sku, other = inventory.sku(), inventory.sku()
    warehouse = await inventory.location("wh")
    store = await inventory.location("st", click_and_collect=True)
    await inventory.stock(sku, {warehouse: 100, store: 1})
    await inventory.stock(other, {warehouse: 100, store: 5})
    reservation_id = rid()

    error = await reserve_error(inventory, reservation_id, {sku: 2, other: 1}, store_id=store)

    info = parse_rpc_error(error)
    assert info.code is FAILED_PRECONDITION and info.reason == domain.INSUFFICIENT_STOCK
    assert info.metadata["skus"] == sku
    assert info.preconditions == (PreconditionViolation(domain.INSUFFICIENT_STOCK, sku, "requested 2, available 1"),)
    # All or nothing: the line that could be served is not reserved either.
    assert await inventory.levels(other) == {warehouse: (100, 0), store: (5, 0)}
    assert await inventory.levels(sku) == {warehouse: (100, 0), store: (1, 0)}
    assert await inventory.sql("SELECT id FROM reservations WHERE id = :id", id=reservation_id) == []


async def test_pickup_needs_an_active_click_and_collect_store(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    plain_store = await inventory.location("st", click_and_collect=False)
    closed_store = await inventory.location("st", click_and_collect=True, active=False)
    await inventory.stock(sku, {warehouse: 10, plain_store: 10, closed_store: 10})

    for location in (warehouse, plain_store, closed_store):
        info = parse_rpc_error(await reserve_error(inventory, rid(), {sku: 1}, store_id=location))
        assert (info.code, info.reason) == (FAILED_PRECONDITION, domain.PICKUP_NOT_AVAILABLE)
    missing = parse_rpc_error(await reserve_error(inventory, rid(), {sku: 1}, store_id="st-nowhere"))
    assert missing.code is grpc.StatusCode.NOT_FOUND
    assert all(reserved == 0 for _, reserved in (await inventory.levels(sku)).values())


async def test_ship_takes_warehouses_in_priority_order_before_stores(inventory: Inventory) -> None:
    sku = inventory.sku()
    store = await inventory.location("st", priority=1, click_and_collect=True)
    second = await inventory.location("wh", priority=20)
    first = await inventory.location("wh", priority=10)
    await inventory.stock(sku, {store: 10, second: 10, first: 10})

    assert allocations(await inventory.reserve(rid(), {sku: 6})) == {sku: {first: 6}}
    assert allocations(await inventory.reserve(rid(), {sku: 6})) == {sku: {second: 6}}
    # 4 + 4 left in the warehouses: one location per line, so the store serves the next 6.
    assert allocations(await inventory.reserve(rid(), {sku: 6})) == {sku: {store: 6}}


async def test_ship_prefers_one_location_for_the_whole_order(inventory: Inventory) -> None:
    a, b = inventory.sku(), inventory.sku()
    first = await inventory.location("wh", priority=10)
    second = await inventory.location("wh", priority=20)
    await inventory.stock(a, {first: 5, second: 5})
    await inventory.stock(b, {second: 5})

    reservation = await inventory.reserve(rid(), {a: 2, b: 2})

    assert allocations(reservation) == {a: {second: 2}, b: {second: 2}}


async def test_ship_prefers_locations_in_the_destination_country(inventory: Inventory) -> None:
    sku = inventory.sku()
    german = await inventory.location("wh", priority=10, country="DE")
    american = await inventory.location("wh", priority=50, country="US")
    await inventory.stock(sku, {german: 10, american: 10})

    assert allocations(await inventory.reserve(rid(), {sku: 1}, country="US")) == {sku: {american: 1}}
    assert allocations(await inventory.reserve(rid(), {sku: 1})) == {sku: {german: 1}}


async def test_split_allocation_only_when_allowed(inventory: Inventory) -> None:
    sku = inventory.sku()
    first = await inventory.location("wh", priority=10)
    second = await inventory.location("wh", priority=20)
    store = await inventory.location("st", priority=1)
    await inventory.stock(sku, {first: 10, second: 4, store: 3})

    error = await reserve_error(inventory, rid(), {sku: 15})
    assert shortages(error) == {sku: "requested 15, available 10"}
    assert await inventory.levels(sku) == {first: (10, 0), second: (4, 0), store: (3, 0)}

    reservation = await inventory.reserve(rid(), {sku: 15}, allow_split=True)

    assert allocations(reservation) == {sku: {first: 10, second: 4, store: 1}}
    assert [line.quantity for line in reservation.lines] == [15]
    assert await inventory.levels(sku) == {first: (10, 10), second: (4, 4), store: (3, 1)}
    error = await reserve_error(inventory, rid(), {sku: 3}, allow_split=True)
    assert shortages(error) == {sku: "requested 3, available 2"}


async def test_a_short_line_reserves_nothing(inventory: Inventory) -> None:
    a, b = inventory.sku(), inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(a, {warehouse: 10})
    await inventory.stock(b, {warehouse: 1})

    error = await reserve_error(inventory, rid(), {a: 5, b: 2}, allow_split=True)

    assert shortages(error) == {b: "requested 2, available 1"}
    assert await inventory.levels(a) == {warehouse: (10, 0)}
    assert await inventory.levels(b) == {warehouse: (1, 0)}


async def test_unknown_skus_are_insufficient_stock(inventory: Inventory) -> None:
    sku = inventory.sku()
    error = await reserve_error(inventory, rid(), {sku: 1})
    assert parse_rpc_error(error).reason == domain.INSUFFICIENT_STOCK
    assert shortages(error) == {sku: "requested 1, available 0"}


# --- transitions --------------------------------------------------------------------------------


async def test_commit_takes_the_stock_out_and_is_idempotent(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()
    await inventory.reserve(reservation_id, {sku: 4})

    committed = (
        await inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=reservation_id), metadata=SERVICE)
    ).reservation
    again = (
        await inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=reservation_id), metadata=SERVICE)
    ).reservation

    assert committed.status == COMMITTED and again == committed
    assert await inventory.levels(sku) == {warehouse: (6, 0)}
    release = await inventory.fails(
        inventory.stub.Release(inventory_pb2.ReleaseRequest(reservation_id=reservation_id), metadata=SERVICE)
    )
    assert (release.code, release.reason) == (FAILED_PRECONDITION, domain.RESERVATION_COMMITTED)
    assert await inventory.levels(sku) == {warehouse: (6, 0)}
    payloads = await inventory.outbox_payloads(events.RESERVATION_COMMITTED)
    committed_events = [events_pb2.ReservationCommitted.FromString(p) for p in payloads]
    assert [e.reservation_id for e in committed_events].count(reservation_id) == 1


async def test_release_returns_the_stock_and_is_idempotent(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()
    await inventory.reserve(reservation_id, {sku: 4})

    request = inventory_pb2.ReleaseRequest(reservation_id=reservation_id, reason="payment_declined")
    released = (await inventory.stub.Release(request, metadata=SERVICE)).reservation
    again = (await inventory.stub.Release(request, metadata=SERVICE)).reservation

    assert released.status == RELEASED and again == released
    assert await inventory.levels(sku) == {warehouse: (10, 0)}
    commit = await inventory.fails(
        inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=reservation_id), metadata=SERVICE)
    )
    assert (commit.code, commit.reason) == (FAILED_PRECONDITION, domain.RESERVATION_RELEASED)
    # Reserving again under the same id returns the released reservation: no second hold.
    assert (await inventory.reserve(reservation_id, {sku: 4})).status == RELEASED
    assert await inventory.levels(sku) == {warehouse: (10, 0)}


async def test_commit_of_an_overdue_reservation_expires_it_and_fails(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()
    await inventory.reserve(reservation_id, {sku: 4})
    await inventory.sql(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = :id", id=reservation_id
    )

    commit = await inventory.fails(
        inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=reservation_id), metadata=SERVICE)
    )

    assert (commit.code, commit.reason) == (FAILED_PRECONDITION, domain.RESERVATION_EXPIRED)
    assert await inventory.levels(sku) == {warehouse: (10, 0)}
    status = await inventory.stub.GetReservation(
        inventory_pb2.GetReservationRequest(reservation_id=reservation_id), metadata=SERVICE
    )
    assert status.status == EXPIRED
    # Releasing an expired reservation is a no-op that succeeds (a saga's compensation must not fail).
    released = (
        await inventory.stub.Release(inventory_pb2.ReleaseRequest(reservation_id=reservation_id), metadata=SERVICE)
    ).reservation
    assert released.status == EXPIRED


async def test_an_expired_reservation_is_renewed_under_its_id_only_when_asked_and_in_stock(
    inventory: Inventory,
) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()
    await inventory.reserve(reservation_id, {sku: 4})
    await inventory.sql(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = :id", id=reservation_id
    )
    commit = inventory_pb2.CommitRequest(reservation_id=reservation_id)
    assert (await inventory.fails(inventory.stub.Commit(commit, metadata=SERVICE))).reason == domain.RESERVATION_EXPIRED
    assert (await inventory.reserve(reservation_id, {sku: 4})).status == EXPIRED  # a plain repeat: as it is

    renew = inventory_pb2.ReserveRequest(
        reservation_id=reservation_id, lines=[inventory_pb2.ReservationLine(sku=sku, quantity=4)], renew_expired=True
    )
    renew.ship.SetInParent()  # as the first Reserve (no country)
    renewed = (await inventory.stub.Reserve(renew, metadata=SERVICE)).reservation
    again = (await inventory.stub.Reserve(renew, metadata=SERVICE)).reservation
    assert renewed.status == ACTIVE and again == renewed
    assert await inventory.levels(sku) == {warehouse: (10, 4)}
    assert (await inventory.stub.Commit(commit, metadata=SERVICE)).reservation.status == COMMITTED
    assert await inventory.levels(sku) == {warehouse: (6, 0)}

    # Without the stock any more: INSUFFICIENT_STOCK; the expired reservation (which held nothing) is gone.
    lapsed = rid()
    await inventory.reserve(lapsed, {sku: 6})
    await inventory.sql("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = :id", id=lapsed)
    await inventory.fails(inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=lapsed), metadata=SERVICE))
    await inventory.reserve(rid(), {sku: 1})
    renew.reservation_id = lapsed
    renew.lines[0].quantity = 6
    refused = await inventory.fails(inventory.stub.Reserve(renew, metadata=SERVICE))
    assert (refused.code, refused.reason) == (FAILED_PRECONDITION, domain.INSUFFICIENT_STOCK)
    get = inventory_pb2.GetReservationRequest(reservation_id=lapsed)
    assert (await inventory.fails(inventory.stub.GetReservation(get, metadata=SERVICE))).code == NOT_FOUND
    assert await inventory.levels(sku) == {warehouse: (6, 1)}


async def test_unknown_reservations_are_not_found(inventory: Inventory) -> None:
    for call in (
        inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id="nope-1"), metadata=SERVICE),
        inventory.stub.Release(inventory_pb2.ReleaseRequest(reservation_id="nope-1"), metadata=SERVICE),
        inventory.stub.GetReservation(inventory_pb2.GetReservationRequest(reservation_id="nope-1"), metadata=SERVICE),
    ):
        assert (await inventory.fails(call)).code is grpc.StatusCode.NOT_FOUND


# --- permissions ----------------------------------------------------------------------------------


async def test_reservations_are_for_the_service_and_admin_roles_only(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    held = rid()
    await inventory.reserve(held, {sku: 2})
    attempt_id = rid()
    reserve = inventory_pb2.ReserveRequest(
        reservation_id=attempt_id, lines=[inventory_pb2.ReservationLine(sku=sku, quantity=1)]
    )
    reserve.ship.country = "DE"

    for metadata in (metadata_for("customer", customer_id="c-1"), ()):
        for call in (
            inventory.stub.Reserve(reserve, metadata=metadata),
            inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=held), metadata=metadata),
            inventory.stub.Release(inventory_pb2.ReleaseRequest(reservation_id=held), metadata=metadata),
            inventory.stub.GetReservation(inventory_pb2.GetReservationRequest(reservation_id=held), metadata=metadata),
        ):
            error = await inventory.fails(call)
            assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert await inventory.sql("SELECT id FROM reservations WHERE id = :id", id=attempt_id) == []
    assert await inventory.levels(sku) == {warehouse: (10, 2)}
    # An operator (admin) may look a reservation up; it is still active.
    found = await inventory.stub.GetReservation(
        inventory_pb2.GetReservationRequest(reservation_id=held), metadata=metadata_for("admin")
    )
    assert found.status == ACTIVE


# --- expiry ---------------------------------------------------------------------------------------


async def test_the_sweeper_releases_expired_reservations(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    reservation_id = rid()
    reservation = await inventory.reserve(reservation_id, {sku: 4}, ttl_seconds=1)
    assert reservation.expires_at.seconds - reservation.created_at.seconds in (0, 1, 2)

    async def expired() -> bool:
        found = await inventory.stub.GetReservation(
            inventory_pb2.GetReservationRequest(reservation_id=reservation_id), metadata=SERVICE
        )
        return found.status == EXPIRED

    for _ in range(60):
        if await expired():
            break
        await asyncio.sleep(0.1)
    assert await expired()
    assert await inventory.levels(sku) == {warehouse: (10, 0)}
    payloads = await inventory.outbox_payloads(events.RESERVATION_EXPIRED)
    expired_events = [
        e for e in map(events_pb2.ReservationExpired.FromString, payloads) if e.reservation_id == reservation_id
    ]
    assert len(expired_events) == 1
    assert [(a.sku, a.location_id, a.quantity) for a in expired_events[0].allocations] == [(sku, warehouse, 4)]


async def test_sweepers_on_several_replicas_expire_each_reservation_once(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouses = [await inventory.location("wh", priority=p) for p in (10, 20, 30)]
    await inventory.stock(sku, dict.fromkeys(warehouses, 40))
    ids = [rid() for _ in range(60)]
    for reservation_id in ids:
        await inventory.reserve(reservation_id, {sku: 2}, allow_split=True)
    # Two more "replicas" (own connection pools) sweep beside the service's own sweeper.
    replicas = [Database(inventory.settings.database_url, pool_size=2) for _ in range(2)]
    sweepers = [Operations(db, None, AllocationPolicy(), 5) for db in replicas]
    await inventory.sql(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = ANY(:ids)", ids=ids
    )

    async def sweep(operations: Operations) -> int:
        """Sweep until nothing is left; rows another sweeper holds are skipped, so keep looking."""
        total = 0
        while True:
            count = await operations.expire_due(3)
            total += count
            if count == 0:
                left = await inventory.sql(
                    "SELECT 1 FROM reservations WHERE id = ANY(:ids) AND status = 'active'", ids=ids
                )
                if not left:
                    return total
                await asyncio.sleep(0.01)

    await asyncio.gather(*(sweep(s) for s in sweepers))
    for db in replicas:
        await db.dispose()

    rows = await inventory.sql(
        "SELECT status, count(*) AS n FROM reservations WHERE id = ANY(:ids) GROUP BY status", ids=ids
    )
    assert {(row.status, row.n) for row in rows} == {("expired", 60)}
    assert await inventory.levels(sku) == {w: (40, 0) for w in warehouses}
    payloads = await inventory.outbox_payloads(events.RESERVATION_EXPIRED)
    expired_ids = [e.reservation_id for e in map(events_pb2.ReservationExpired.FromString, payloads)]
    assert sorted(i for i in expired_ids if i in set(ids)) == sorted(ids)


# --- bad input ------------------------------------------------------------------------------------


async def test_bad_reserve_requests_are_invalid_argument_and_change_nothing(inventory: Inventory) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    request = inventory_pb2.ReserveRequest(
        reservation_id="",
        lines=[
            inventory_pb2.ReservationLine(sku=sku, quantity=0),
            inventory_pb2.ReservationLine(sku=sku, quantity=1),
            inventory_pb2.ReservationLine(sku="bad sku!", quantity=1),
        ],
    )
    request.ttl.seconds = 365 * 24 * 3600

    error = await inventory.fails(inventory.stub.Reserve(request, metadata=SERVICE))

    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {
        "reservation_id",
        "lines[0].quantity",
        "lines[1].sku",
        "lines[2].sku",
        "fulfilment",
        "ttl",
    }
    assert await inventory.levels(sku) == {warehouse: (10, 0)}

    split_pickup = inventory_pb2.ReserveRequest(
        reservation_id=rid(), lines=[inventory_pb2.ReservationLine(sku=sku, quantity=1)], allow_split=True
    )
    split_pickup.pickup.store_id = "Not A Store"
    error = await inventory.fails(inventory.stub.Reserve(split_pickup, metadata=SERVICE))
    assert {v.field for v in error.violations} == {"pickup.store_id", "allow_split"}
    assert await inventory.sql("SELECT id FROM reservations WHERE id = :id", id=split_pickup.reservation_id) == []
