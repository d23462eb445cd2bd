"""The consumer's prefetch: what a handler needs from other services is read before the inbox
transaction opens, and a failing prefetch is handled as a failing handler."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
import test_kit_outbox as outbox_tests
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection
from test_kit_outbox import count, effects, kit_consumer, outbox, stage

from shop.common.v1 import common_pb2
from shopkit import events
from shopkit.db import Database
from shopkit.errors import Unavailable
from shopkit.outbox import OutboxRelay
from shopkit.testing import eventually

# The outbox tests' fixtures: a database with their tables, a fresh stream.
db = outbox_tests.db
js = outbox_tests.js

# Locks on the inbox table: held by a transaction that recorded message ids and has not ended.
INBOX_LOCKS = "SELECT count(*) FROM pg_locks WHERE relation = 'inbox'::regclass"


def amount(msg: Msg) -> int:
    return common_pb2.Money.FromString(msg.data).amount


async def record(conn: AsyncConnection, msg: Msg, fetched: int) -> None:
    await conn.execute(effects.insert().values(amount=fetched))


async def publish(db: Database, js: Any, amounts: range) -> None:
    await stage(db, js.test_service, amounts)
    await OutboxRelay(db, js, outbox).publish_batch()


async def test_prefetch_runs_before_the_transaction_and_the_handler_gets_its_result(db: Database, js: Any) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    own = Database(url)  # the consumer's pool alone (the relay's connections are elsewhere)
    looks: dict[str, list[tuple[int, int]]] = {"prefetch": [], "handler": []}

    async def look(step: str) -> None:
        """Connections of the consumer's pool checked out, and locks on the inbox, just now."""
        session = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            looks[step].append((own.engine.pool.checkedout(), await session.fetchval(INBOX_LOCKS)))  # type: ignore[attr-defined]
        finally:
            await session.close()

    async def prefetch(msg: Msg) -> int:
        await look("prefetch")
        return amount(msg) * 100

    async def handler(conn: AsyncConnection, msg: Msg, fetched: int) -> None:
        await look("handler")
        await record(conn, msg, fetched)

    await publish(db, js, range(1, 5))
    consumer = kit_consumer(own, js, "prefetch", handler, prefetch=prefetch, prefetch_concurrency=2)
    try:
        msgs = await (await consumer.subscribe()).fetch(4, timeout=5)
        assert await consumer.handle_batch(msgs) == ["applied"] * 4  # one batch, one transaction
    finally:
        await own.dispose()
    assert looks["prefetch"] == [(0, 0)] * 4  # no connection held, no transaction open
    assert all(held == 1 and locks > 0 for held, locks in looks["handler"])  # what the looks would see
    async with db.connect() as conn:
        stored = sorted((await conn.execute(sa.select(effects.c.amount))).scalars())
    assert stored == [100, 200, 300, 400]


async def test_a_redelivered_message_is_applied_once_and_not_fetched_again(db: Database, js: Any) -> None:
    fetched: list[int] = []

    async def prefetch(msg: Msg) -> int:
        fetched.append(amount(msg))
        return amount(msg)

    await publish(db, js, range(1, 4))
    consumer = kit_consumer(db, js, "again", record, prefetch=prefetch, ack_wait=1.0)
    sub = await consumer.subscribe()
    first = await sub.fetch(3, timeout=5)
    assert [await consumer.apply_once(m) for m in first] == [True] * 3  # then "crashed" before the acks
    redelivered = await sub.fetch(3, timeout=10)
    assert await consumer.handle(redelivered[0]) == "duplicate"  # alone
    assert await consumer.handle_batch(redelivered[1:]) == ["duplicate"] * 2  # together
    assert sorted(fetched) == [1, 2, 3]  # the inbox spared the calls of the redeliveries
    assert await count(db, effects) == 3


async def test_a_failing_prefetch_is_retried_then_dead_lettered_and_spares_the_batch(db: Database, js: Any) -> None:
    service = js.test_service
    tries: dict[int, int] = {}

    async def prefetch(msg: Msg) -> int:
        tries[amount(msg)] = tries.get(amount(msg), 0) + 1
        if amount(msg) == 3 or (amount(msg) == 2 and tries[2] == 1):
            raise ValueError(f"cannot read {amount(msg)}")
        return amount(msg)

    await publish(db, js, range(1, 6))  # 2 fails once then applies; 3 always fails
    consumer = kit_consumer(db, js, "prefetch-fails", record, prefetch=prefetch, max_deliver=2)
    dlq = await js.pull_subscribe(f"shop.dlq.kit.kit-prefetch-fails-{service}", stream=events.DLQ_STREAM)
    task = asyncio.create_task(consumer.run())
    try:
        dead = (await dlq.fetch(1, timeout=15))[0]
        await eventually(lambda: _effects(db, 4), within=10)
    finally:
        task.cancel()
    assert amount(dead) == 3
    assert dead.headers is not None and dead.headers["Shop-Error"] == "ValueError: cannot read 3"
    assert tries[1] == 1 and tries[2] == 2 and tries[3] == 2  # 3: once per delivery (max_deliver=2)


async def test_an_outage_behind_prefetch_is_waited_out_without_a_redelivery(db: Database, js: Any) -> None:
    service = js.test_service
    tries: list[int] = []

    async def prefetch(msg: Msg) -> int:
        tries.append(msg.metadata.num_delivered)
        if len(tries) <= 4:  # more tries than max_deliver allows deliveries
            raise Unavailable("order is not answering")
        return amount(msg)

    await publish(db, js, range(7, 8))
    consumer = kit_consumer(db, js, "prefetch-outage", record, prefetch=prefetch, max_deliver=2, ack_wait=2.0)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _effects(db, 1), within=30)
    finally:
        task.cancel()
    assert len(tries) == 5 and set(tries) == {1}
    dlq = await js.pull_subscribe(f"shop.dlq.kit.kit-prefetch-outage-{service}", stream=events.DLQ_STREAM)
    with pytest.raises(NatsTimeoutError):
        await dlq.fetch(1, timeout=1)


def test_prefetch_and_a_batch_handler_do_not_go_together(db: Database, js: Any) -> None:
    async def many(conn: AsyncConnection, msgs: Any) -> None:
        return None

    with pytest.raises(ValueError, match="batch_handler"):
        kit_consumer(db, js, "both", record, prefetch=lambda msg: asyncio.sleep(0), batch_handler=many)


async def _effects(db: Database, expected: int) -> bool:
    return await count(db, effects) == expected
