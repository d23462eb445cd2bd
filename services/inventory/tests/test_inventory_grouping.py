"""Concurrent Reserves (and Commits) of one process go in groups, one transaction each: every request
still gets its own answer, and stock, idempotency and events stay as if they had run one by one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.inventory.v1 import events_pb2
from shop_inventory import domain, events
from shop_inventory.domain import AllocationPolicy, Fulfilment, Line, Reservation
from shop_inventory.grouping import AGAIN, Groups, Outcome
from shop_inventory.operations import Inventory as Operations
from shop_inventory.reserve_group import ReserveCommand
from shopkit.db import Database
from shopkit.errors import AlreadyExists, DomainError, FailedPrecondition, NotFound, parse_rpc_error

if TYPE_CHECKING:
    from conftest import Inventory


def rid() -> str:
    return f"res-{uuid.uuid4().hex}"


def command(reservation_id: str, sku: str, quantity: int = 1, *, store_id: str = "") -> ReserveCommand:
    return ReserveCommand(
        reservation_id=reservation_id,
        lines=(Line(sku, quantity),),
        fulfilment=Fulfilment(store_id=store_id),
        ttl=timedelta(minutes=15),
        allow_split=False,
    )


@pytest.fixture
async def replicas(inventory: Inventory) -> AsyncIterator[list[Operations]]:
    """Two more inventory processes' worth of operations, each with its own connection pool."""
    databases = [Database(inventory.settings.database_url, pool_size=4) for _ in range(2)]
    yield [Operations(db, None, AllocationPolicy(), 5) for db in databases]
    for db in databases:
        await db.dispose()


async def outcome(operations: Operations, request: ReserveCommand) -> Reservation | DomainError:
    try:
        return await operations.reserve(request)
    except DomainError as error:
        return error


def stock_changes(payloads: Sequence[bytes], sku: str, cause: str) -> list[tuple[int, int, int]]:
    changes = [events_pb2.StockLevelChanged.FromString(p) for p in payloads]
    return [(c.on_hand, c.reserved, c.total_available) for c in changes if c.sku == sku and c.cause == cause]


async def test_reserves_on_one_sku_from_three_processes_take_exactly_the_stock(
    inventory: Inventory, replicas: list[Operations]
) -> None:
    sku = inventory.sku()
    warehouses = [await inventory.location("wh", priority=p) for p in (10, 20)]
    await inventory.stock(sku, {warehouses[0]: 35, warehouses[1]: 25})
    before = [r.groups_run[0] for r in replicas]

    async def through_the_service() -> str:
        try:
            await inventory.reserve(rid(), {sku: 1})
        except grpc.aio.AioRpcError as error:
            return parse_rpc_error(error).reason
        return "OK"

    async def through(operations: Operations) -> str:
        result = await outcome(operations, command(rid(), sku))
        return result.reason if isinstance(result, DomainError) else "OK"

    replica_calls = [through(r) for r in replicas for _ in range(100)]
    results = await asyncio.gather(*replica_calls, *(through_the_service() for _ in range(100)))

    assert results.count("OK") == 60
    assert results.count(domain.INSUFFICIENT_STOCK) == 240
    assert await inventory.levels(sku) == {warehouses[0]: (35, 35), warehouses[1]: (25, 25)}
    rows = await inventory.sql(
        "SELECT count(*) AS n, sum(quantity) AS q FROM reservation_allocations WHERE sku = :sku", sku=sku
    )
    assert (rows[0].n, rows[0].q) == (60, 60)
    # Each replica answered its 100 Reserves in far fewer transactions.
    assert all(r.groups_run[0] - b < 50 for r, b in zip(replicas, before, strict=True))


async def test_a_repeated_id_in_one_group_gets_the_same_reservation(
    inventory: Inventory, replicas: list[Operations]
) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    operations = replicas[0]
    repeated = rid()
    groups = operations.groups_run[0]

    # The first Reserve runs alone; the next three wait for it and go as one group.
    first, *same_group = await asyncio.gather(
        outcome(operations, command(rid(), sku)),
        outcome(operations, command(repeated, sku, 2)),
        outcome(operations, command(repeated, sku, 2)),
        outcome(operations, command(repeated, sku, 3)),
    )

    assert operations.groups_run[0] - groups == 2
    assert isinstance(first, Reservation)
    a, b, other = same_group
    assert isinstance(a, Reservation) and a == b and a.reservation_id == repeated
    assert isinstance(other, AlreadyExists) and other.reason == domain.REQUEST_ID_REUSED
    assert await inventory.levels(sku) == {warehouse: (10, 3)}
    assert await operations.reserve(command(repeated, sku, 2)) == a


async def test_one_refused_request_does_not_fail_its_group(inventory: Inventory, replicas: list[Operations]) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    operations = replicas[0]
    taken = rid()
    await operations.reserve(command(taken, sku, 1))
    ids = [rid() for _ in range(5)]

    results = await asyncio.gather(
        outcome(operations, command(rid(), sku, 1)),  # alone; the others wait for it
        outcome(operations, command(ids[0], sku, 2)),
        outcome(operations, command(ids[1], sku, 8)),  # more than is left at its turn
        outcome(operations, command(ids[2], sku, 1, store_id=warehouse)),  # not a pickup store
        outcome(operations, command(taken, sku, 5)),  # an id used for another request
        outcome(operations, command(ids[3], sku, 6)),
        outcome(operations, command(ids[4], sku, 1)),  # nothing left at its turn
    )

    _, good, short, pickup, reused, last, empty = results
    assert isinstance(good, Reservation) and isinstance(last, Reservation)
    assert isinstance(short, FailedPrecondition) and short.reason == domain.INSUFFICIENT_STOCK
    assert [(v.subject, v.description) for v in short.violations] == [(sku, "requested 8, available 6")]
    assert isinstance(pickup, FailedPrecondition) and pickup.reason == domain.PICKUP_NOT_AVAILABLE
    assert isinstance(reused, AlreadyExists)
    assert isinstance(empty, FailedPrecondition) and [v.description for v in empty.violations] == [
        "requested 1, available 0"
    ]
    assert await inventory.levels(sku) == {warehouse: (10, 10)}
    rows = await inventory.sql("SELECT id FROM reservations WHERE id = ANY(:ids)", ids=ids)
    assert sorted(row.id for row in rows) == sorted([ids[0], ids[3]])


async def test_events_of_a_group_carry_the_figures_of_each_request(
    inventory: Inventory, replicas: list[Operations]
) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    await inventory.stock(sku, {warehouse: 10})
    operations = replicas[0]
    ids = [rid() for _ in range(10)]
    finishes = operations.groups_run[1]

    reserved = await asyncio.gather(*(operations.reserve(command(i, sku)) for i in ids))
    assert [r.reservation_id for r in reserved] == ids
    # Commit eight, release one twice and commit-then-release another: each answers as it would alone.
    calls = [operations.commit(i) for i in ids[:8]]
    calls += [operations.release(ids[8], "gone"), operations.release(ids[8], "gone")]
    calls += [operations.commit(ids[9]), operations.release(ids[9], "late"), operations.commit(rid())]
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert operations.groups_run[1] - finishes < len(calls)
    assert [r.status for r in results[:10] if isinstance(r, Reservation)] == ["committed"] * 8 + ["released"] * 2
    committed, refused, unknown = results[10:]
    assert isinstance(committed, Reservation) and committed.status == "committed"
    assert isinstance(refused, FailedPrecondition) and refused.reason == domain.RESERVATION_COMMITTED
    assert isinstance(unknown, NotFound)
    assert await inventory.levels(sku) == {warehouse: (1, 0)}

    changes = await inventory.outbox_payloads(events.STOCK_LEVEL_CHANGED)
    assert stock_changes(changes, sku, "reserve") == [(10, n, 10 - n) for n in range(1, 11)]
    commits = stock_changes(changes, sku, "commit")
    assert commits == [(10 - n, 10 - n, 0) for n in range(1, 9)] + [(1, 0, 1)]
    assert stock_changes(changes, sku, "release") == [(2, 1, 1)]
    lows = [events_pb2.LowStock.FromString(p) for p in await inventory.outbox_payloads(events.LOW_STOCK)]
    assert [(e.total_available, e.threshold) for e in lows if e.sku == sku] == [(5, 5)]
    finished = await inventory.outbox_payloads(events.RESERVATION_COMMITTED)
    committed_ids = [events_pb2.ReservationCommitted.FromString(p).reservation_id for p in finished]
    assert [i for i in committed_ids if i in set(ids)] == [*ids[:8], ids[9]]


# --- the grouping itself, without a database -------------------------------------------------------


async def test_a_group_that_fails_as_a_whole_is_retried_one_request_at_a_time() -> None:
    seen: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[Outcome[int]]:
        seen.append(list(items))
        await asyncio.sleep(0.01)
        if len(items) > 1 or items[0] == 13:
            raise RuntimeError("the database went away")
        return [item * 2 for item in items]

    groups = Groups[int, int]("test group", run)
    results = await asyncio.gather(*(groups.submit("key", i) for i in (1, 2, 13, 3)), return_exceptions=True)

    assert results[:2] == [2, 4] and isinstance(results[2], RuntimeError) and results[3] == 6
    assert seen == [[1], [2, 13, 3], [2], [13], [3]]


async def test_a_request_whose_caller_left_is_skipped_and_a_repeat_goes_again() -> None:
    seen: list[list[str]] = []

    async def run(items: Sequence[str]) -> list[Outcome[str]]:
        seen.append(list(items))
        await asyncio.sleep(0.01)
        firsts: set[str] = set()
        outcomes: list[Outcome[str]] = []
        for item in items:
            outcomes.append(AGAIN if item in firsts else item.upper())
            firsts.add(item)
        return outcomes

    groups = Groups[str, str]("test group", run)
    first = asyncio.ensure_future(groups.submit("k", "a"))
    await asyncio.sleep(0)
    left = asyncio.ensure_future(groups.submit("k", "gone"))
    rest = [asyncio.ensure_future(groups.submit("k", item)) for item in ("b", "b", "c")]
    await asyncio.sleep(0)
    left.cancel()

    assert await first == "A" and await asyncio.gather(*rest) == ["B", "B", "C"]
    assert seen == [["a"], ["b", "b", "c"], ["b"]]
    assert groups.groups == 3  # the key is free again once its queue is empty
    assert await groups.submit("k", "d") == "D"
