"""ERP stock feeds: stored whole, applied in batches by the worker with SetStock/AdjustStock rules,
idempotent by feed id, a report per line; a crashed worker's feed is taken over without a double effect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import sqlalchemy as sa

from shop.common.v1 import feed_pb2
from shop.inventory.v1 import events_pb2
from shop_inventory import events, stock_feed
from shop_inventory.domain import AllocationPolicy
from shop_inventory.operations import Inventory as Operations
from shopkit import feeds
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Inventory

ADMIN = metadata_for("admin")


def line(**fields: object) -> str:
    return json.dumps(fields)


async def finished(inventory: Inventory, feed_id: str) -> feed_pb2.Feed:
    for _ in range(200):
        feed = await inventory.stub.GetStockFeed(feed_pb2.GetFeedRequest(id=feed_id), metadata=ADMIN)
        if feed.status in (feed_pb2.FEED_STATUS_DONE, feed_pb2.FEED_STATUS_FAILED):
            return feed
        await asyncio.sleep(0.05)
    raise AssertionError("the feed did not finish")


async def changes(inventory: Inventory, sku: str) -> list[events_pb2.StockLevelChanged]:
    found = []
    for payload in await inventory.outbox_payloads(events.STOCK_LEVEL_CHANGED):
        event = events_pb2.StockLevelChanged.FromString(payload)
        if event.sku == sku:
            found.append(event)
    return found


async def test_bad_lines_are_reported_and_the_rest_applied(inventory: Inventory) -> None:
    wh = await inventory.location()
    sku, other = inventory.sku(), inventory.sku()
    await inventory.stock(other, {wh: 10})
    await inventory.reserve(f"r-{uuid.uuid4().hex}", {other: 4})
    lines = [
        line(sku=sku, location_id=wh, on_hand=7),
        "",
        "not json",
        line(sku=sku, location_id="nowhere", on_hand=1),
        line(sku=other, location_id=wh, on_hand=2),  # below the 4 reserved
        line(sku=sku, location_id=wh, mode="adjust", delta=3),
        line(sku=sku, location_id=wh, on_hand="x"),
    ]
    request = feed_pb2.StartFeedRequest(feed_id=uuid.uuid4().hex, started_by="erp", lines=lines)
    started = await inventory.stub.StartStockFeed(request, metadata=ADMIN)
    feed = await finished(inventory, started.id)
    assert (feed.status, feed.lines_done, feed.applied, feed.failed) == (feed_pb2.FEED_STATUS_DONE, 7, 2, 4)
    assert (await inventory.levels(sku))[wh] == (10, 0)
    assert (await inventory.levels(other))[wh] == (10, 4)
    report = await inventory.stub.ListStockFeedLines(
        feed_pb2.ListFeedLinesRequest(id=started.id, failed_only=True), metadata=ADMIN
    )
    assert [r.line for r in report.lines] == [3, 4, 5, 7]
    assert "not found" in report.lines[1].message.lower()
    assert "reserved" in report.lines[2].message
    assert [v.field for v in report.lines[3].field_violations] == ["on_hand"]
    everything = await inventory.stub.ListStockFeedLines(feed_pb2.ListFeedLinesRequest(id=started.id), metadata=ADMIN)
    assert everything.lines[1].status == feed_pb2.FEED_LINE_STATUS_SKIPPED
    assert everything.lines[0].key == f"{sku}@{wh}"


async def test_the_same_feed_twice_has_one_effect(inventory: Inventory) -> None:
    wh = await inventory.location()
    sku = inventory.sku()
    lines = [line(sku=sku, location_id=wh, on_hand=5), line(sku=sku, location_id=wh, mode="adjust", delta=2)]
    request = feed_pb2.StartFeedRequest(feed_id=uuid.uuid4().hex, started_by="erp", lines=lines)
    first = await inventory.stub.StartStockFeed(request, metadata=ADMIN)
    await finished(inventory, first.id)
    again = await inventory.stub.StartStockFeed(request, metadata=ADMIN)
    assert again.id == first.id
    await finished(inventory, first.id)
    assert (await inventory.levels(sku))[wh] == (7, 0)
    assert len(await changes(inventory, sku)) == 2
    other_body = feed_pb2.StartFeedRequest(feed_id=request.feed_id, started_by="erp", lines=lines[:1])
    refused = await inventory.fails(inventory.stub.StartStockFeed(other_body, metadata=ADMIN))
    assert (refused.code, refused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    # The same levels under a new feed id: nothing changes, nothing is published.
    repeat = feed_pb2.StartFeedRequest(feed_id=uuid.uuid4().hex, lines=[line(sku=sku, location_id=wh, on_hand=7)])
    feed = await finished(inventory, (await inventory.stub.StartStockFeed(repeat, metadata=ADMIN)).id)
    assert (feed.applied, feed.unchanged) == (0, 1)
    assert len(await changes(inventory, sku)) == 2


async def test_bad_requests_change_nothing(inventory: Inventory) -> None:
    for request, field in [
        (feed_pb2.StartFeedRequest(lines=["{}"]), "feed_id"),
        (feed_pb2.StartFeedRequest(feed_id="x" * 65, lines=["{}"]), "feed_id"),
        (feed_pb2.StartFeedRequest(feed_id=uuid.uuid4().hex, lines=["", " "]), "lines"),
    ]:
        error = await inventory.fails(inventory.stub.StartStockFeed(request, metadata=ADMIN))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in [v.field for v in error.violations]
    denied = await inventory.fails(
        inventory.stub.StartStockFeed(
            feed_pb2.StartFeedRequest(feed_id="a", lines=["{}"]), metadata=metadata_for("customer")
        )
    )
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED
    missing = await inventory.fails(inventory.stub.GetStockFeed(feed_pb2.GetFeedRequest(id="nope"), metadata=ADMIN))
    assert missing.code == grpc.StatusCode.NOT_FOUND


async def test_a_dead_workers_feed_is_taken_over_without_a_double_effect(inventory: Inventory) -> None:
    """A worker that dies after its first batch: the next one claims the feed once the lease ran out
    and applies the rest; the dead one's late write is refused (its lease is gone)."""
    wh = await inventory.location()
    sku = inventory.sku()
    lines = [line(sku=sku, location_id=wh, mode="adjust", delta=1) for _ in range(5)]
    db = inventory.runtime.db
    operations = Operations(db, None, AllocationPolicy(), 5)
    applier = stock_feed.StockFeedApplier(operations, lambda value: bool(value))
    dead = feeds.FeedWorker(
        db,
        stock_feed.tables,
        applier,
        on_commit=lambda: None,
        batch_lines=2,
        lease_seconds=0.3,
        poll_seconds=0.05,
        retention_days=1,
        name="dead",
    )
    job = uuid.uuid4()
    async with db.transaction() as conn:  # claimed by "dead" already: the service's worker waits for its lease
        values = {
            "id": job,
            "feed_id": uuid.uuid4().hex,
            "body_digest": "",
            "started_by": "t",
            "status": feeds.RUNNING,
            "lines_total": 5,
            "claimed_by": "dead",
            "lease_until": sa.func.now() + timedelta(seconds=0.3),
        }
        await conn.execute(stock_feed.tables.jobs.insert().values(values))
        rows = [{"job_id": job, "line": n, "text": t} for n, t in enumerate(lines, 1)]
        await conn.execute(stock_feed.tables.lines.insert(), rows)
    assert await dead.step(job, 0) == 2
    feed = await finished(inventory, str(job))  # the service's worker takes over after the lease
    assert (feed.applied, feed.lines_done) == (5, 5)
    assert (await inventory.levels(sku))[wh] == (5, 0)
    try:
        await dead.step(job, 2)
    except feeds.LeaseLost:
        pass
    else:
        raise AssertionError("a worker without its lease wrote")
    assert (await inventory.levels(sku))[wh] == (5, 0)


async def test_finished_feeds_are_deleted_after_their_retention(inventory: Inventory) -> None:
    db = inventory.runtime.db
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as conn:
        for job, age in ((old, 31), (recent, 1)):
            values = {
                "id": job,
                "feed_id": uuid.uuid4().hex,
                "body_digest": "",
                "started_by": "t",
                "status": feeds.DONE,
                "lines_total": 1,
                "finished_at": sa.func.now() - timedelta(days=age),
            }
            await conn.execute(stock_feed.tables.jobs.insert().values(values))
            await conn.execute(stock_feed.tables.lines.insert().values(job_id=job, line=1, text="{}"))
    sweeper = feeds.FeedWorker(
        db,
        stock_feed.tables,
        stock_feed.StockFeedApplier(Operations(db, None, AllocationPolicy(), 5), bool),
        on_commit=lambda: None,
        batch_lines=1,
        lease_seconds=1,
        poll_seconds=1,
        retention_days=30,
    )
    assert await sweeper.sweep_if_due() >= 1
    async with db.connect() as conn:
        left = {row.id for row in await conn.execute(sa.select(stock_feed.tables.jobs.c.id))}
        lines = await conn.execute(
            sa.select(stock_feed.tables.lines.c.job_id).where(stock_feed.tables.lines.c.job_id == old)
        )
    assert old not in left and recent in left
    assert lines.first() is None  # its line report went with it


async def test_a_stopping_worker_gives_its_feed_back_and_another_finishes_it(inventory: Inventory) -> None:
    wh = await inventory.location()
    sku = inventory.sku()
    db = inventory.runtime.db
    entered = asyncio.Event()
    applier = stock_feed.StockFeedApplier(Operations(db, None, AllocationPolicy(), 5), bool)

    async def stuck(conn: Any, lines: Any) -> list[feeds.Outcome]:
        entered.set()
        await asyncio.sleep(3600)  # a batch in flight when the pod stops
        return await applier(conn, lines)

    stopping = feeds.FeedWorker(
        db,
        stock_feed.tables,
        stuck,
        on_commit=lambda: None,
        batch_lines=10,
        lease_seconds=600,
        poll_seconds=1,
        retention_days=1,
        name="stopping",
    )
    job = uuid.uuid4()
    async with db.transaction() as conn:
        values = {
            "id": job,
            "feed_id": uuid.uuid4().hex,
            "body_digest": "",
            "started_by": "t",
            "status": feeds.RUNNING,  # claimed by the stopping worker, for long: the others wait
            "lines_total": 1,
            "claimed_by": "stopping",
            "lease_until": sa.func.now() + timedelta(seconds=600),
        }
        await conn.execute(stock_feed.tables.jobs.insert().values(values))
        text = line(sku=sku, location_id=wh, mode="adjust", delta=4)
        await conn.execute(stock_feed.tables.lines.insert().values(job_id=job, line=1, text=text))
        row = (
            (await conn.execute(stock_feed.tables.jobs.select().where(stock_feed.tables.jobs.c.id == job)))
            .mappings()
            .one()
        )
    task = asyncio.create_task(stopping.process(row))
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    feed = await finished(inventory, str(job))  # the service's worker took it at once (no lease to wait for)
    assert (feed.applied, feed.lines_done) == (1, 1)
    assert (await inventory.levels(sku))[wh] == (4, 0)
