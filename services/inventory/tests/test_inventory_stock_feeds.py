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


def applier(db: Any) -> stock_feed.StockFeedApplier:
    return stock_feed.StockFeedApplier(Operations(db, None, AllocationPolicy(), 5), bool)


def worker(
    db: Any, apply: feeds.ApplyBatch, name: str, *, batch_lines: int = 10, lease: float = 600
) -> feeds.FeedWorker:
    return feeds.FeedWorker(
        db,
        stock_feed.tables,
        apply,
        on_commit=lambda: None,
        batch_lines=batch_lines,
        lease_seconds=lease,
        poll_seconds=1,
        retention_days=30,
        name=name,
    )


async def stored(db: Any, lines: list[str], **values: Any) -> Any:
    """A feed written straight to the tables (e.g. claimed by a test's worker); its row."""
    job = uuid.uuid4()
    row = {"id": job, "feed_id": uuid.uuid4().hex, "body_digest": "", "started_by": "t", "lines_total": len(lines)}
    jobs = stock_feed.tables.jobs
    async with db.transaction() as conn:
        await conn.execute(jobs.insert().values({**row, **values}))
        texts = [{"job_id": job, "line": n, "text": t} for n, t in enumerate(lines, 1)]
        await conn.execute(stock_feed.tables.lines.insert(), texts)
        return (await conn.execute(jobs.select().where(jobs.c.id == job))).mappings().one()


def claimed_by(name: str, seconds: float) -> dict[str, Any]:
    return {"status": feeds.RUNNING, "claimed_by": name, "lease_until": sa.func.now() + timedelta(seconds=seconds)}


async def test_a_dead_workers_feed_is_taken_over_without_a_double_effect(inventory: Inventory) -> None:
    """A worker that dies after its first batch: the next one claims the feed once the lease ran out
    and applies the rest; the dead one's late write is refused (its lease is gone)."""
    wh = await inventory.location()
    sku = inventory.sku()
    db = inventory.runtime.db
    dead = worker(db, applier(db), "dead", batch_lines=2, lease=0.3)
    lines = [line(sku=sku, location_id=wh, mode="adjust", delta=1) for _ in range(5)]
    job = (await stored(db, lines, **claimed_by("dead", 0.3)))["id"]  # the service's worker waits for the lease
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
    finished_at = {age: sa.func.now() - timedelta(days=age) for age in (31, 1)}
    old = (await stored(db, ["{}"], status=feeds.DONE, finished_at=finished_at[31]))["id"]
    recent = (await stored(db, ["{}"], status=feeds.DONE, finished_at=finished_at[1]))["id"]
    assert await worker(db, applier(db), "sweeper").sweep_if_due() >= 1
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
    real = applier(db)

    async def stuck(conn: Any, lines: Any) -> list[feeds.Outcome]:
        entered.set()
        await asyncio.sleep(3600)  # a batch in flight when the pod stops
        return await real(conn, lines)

    # Claimed by the stopping worker for long: without its give-back the others would wait 10 minutes.
    row = await stored(db, [line(sku=sku, location_id=wh, mode="adjust", delta=4)], **claimed_by("stopping", 600))
    task = asyncio.create_task(worker(db, stuck, "stopping").process(row))
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    feed = await finished(inventory, str(row["id"]))  # the service's worker took it at once
    assert (feed.applied, feed.lines_done) == (1, 1)
    assert (await inventory.levels(sku))[wh] == (4, 0)
