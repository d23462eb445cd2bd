"""B8's worker process: events through the kit's outbox relay, JetStream and an event consumer.

On the rig's PostgreSQL (a bench database: an outbox, an inbox and an `effects` table) and NATS: N events
are staged in the outbox (1,000 per transaction, as a busy service would), then `OutboxRelay` publishes
them all, then `EventConsumer`s apply them, each message with its inbox row and one insert (its effect):
first a consumer whose handler takes one message at a time (one INSERT per message, the batch's messages
in one transaction), then one with a batch handler (one INSERT for the batch's effects, as dynamic
pricing's handler does). Prints one JSON line: events/s and CPU ms per event of this process per phase.

    python -m shop_devstack.bench.events_worker DATABASE_URL NATS_URL EVENTS
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import uvloop
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shopkit import events, tracing
from shopkit.consumer import EventConsumer
from shopkit.db import Database
from shopkit.outbox import OutboxRelay, add_events, inbox_table, outbox_table

metadata = sa.MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
effects = sa.Table(
    "effects", metadata, sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("amount", sa.BigInteger)
)
STAGE_BATCH = 1000


async def count(db: Database, table: sa.Table) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def measure(url: str, nats_url: str, n: int) -> dict[str, float]:
    tracing.setup_tracing("bench-events")  # spans are made as in a service (no exporter, as in the bench stacks)
    service = f"bench{uuid.uuid4().hex[:8]}"
    db = Database(url)
    nc = await events.connect(nats_url, service)
    try:
        js = nc.jetstream()
        await events.ensure_stream(js, events.stream_config(service))
        async with db.transaction() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(sa.text("TRUNCATE outbox, inbox, effects"))
        for start in range(0, n, STAGE_BATCH):
            batch = range(start, min(n, start + STAGE_BATCH))
            async with db.transaction() as conn:
                staged = [(f"shop.{service}.paid", common_pb2.Money(amount=i, currency="USD"), "") for i in batch]
                await add_events(conn, outbox, staged)

        relay = OutboxRelay(db, js, outbox)
        cpu, started = time.process_time(), time.perf_counter()
        while await relay.publish_batch():
            pass
        relay_seconds, relay_cpu = time.perf_counter() - started, time.process_time() - cpu

        async def apply(conn: AsyncConnection, msg: Msg) -> None:
            await conn.execute(effects.insert().values(amount=common_pb2.Money.FromString(msg.data).amount))

        async def apply_batch(conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
            amounts = [{"amount": common_pb2.Money.FromString(msg.data).amount} for msg in msgs]
            await conn.execute(effects.insert(), amounts)

        rates: dict[str, float] = {}
        for phase, batch_handler in (("consumer", None), ("batch_consumer", apply_batch)):
            consumer = EventConsumer(
                db,
                js,
                inbox,
                service="bench",
                name=f"{phase.replace('_', '-')}-{service}",
                source_service=service,
                subjects=[f"shop.{service}.>"],
                handler=apply,
                batch_handler=batch_handler,
            )
            rates.update(await consume(db, consumer, phase, n))
    finally:
        await nc.close()
        await db.dispose()
    return {
        "events": n,
        "relay_rate": round(n / relay_seconds, 1),
        "relay_cpu_ms": round(1000 * relay_cpu / n, 3),
        **rates,
    }


async def consume(db: Database, consumer: EventConsumer, phase: str, n: int) -> dict[str, float]:
    """Run `consumer` until it applied all `n` events (each effect once): its events/s and CPU ms per event."""
    async with db.transaction() as conn:
        await conn.execute(sa.text("TRUNCATE inbox, effects"))
    cpu, started = time.process_time(), time.perf_counter()
    task = asyncio.create_task(consumer.run())
    while await count(db, inbox) < n:
        if task.done():
            await task  # raises what stopped it
        await asyncio.sleep(0.05)
    seconds, used = time.perf_counter() - started, time.process_time() - cpu
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    applied = await count(db, effects)
    if applied != n:
        raise RuntimeError(f"{phase}: {applied} effects for {n} events")
    return {f"{phase}_rate": round(n / seconds, 1), f"{phase}_cpu_ms": round(1000 * used / n, 3)}


def main() -> None:
    url, nats_url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(uvloop.run(measure(url, nats_url, n))), flush=True)


if __name__ == "__main__":
    main()
