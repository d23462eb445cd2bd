"""Outbox → JetStream → consumer with inbox: exactly-once effects over at-least-once delivery."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import StreamConfig
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shopkit import events
from shopkit.consumer import EventConsumer, Handler, PrefetchedHandler, after_commit, is_transient, sweep_inbox
from shopkit.db import Database
from shopkit.errors import InvalidArgument, Unavailable
from shopkit.outbox import OutboxRelay, add_event, inbox_table, outbox_table
from shopkit.testing import Postgres, eventually, free_port

HERE = Path(__file__).parent
metadata = sa.MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
effects = sa.Table(
    "effects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
)


@pytest.fixture
async def db(postgres: Postgres) -> AsyncIterator[Database]:
    database = Database(postgres.create_database("kit"))
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await events.connect(nats_url, "kit-test")
    stream = f"kit{os.urandom(3).hex()}"
    # A fresh stream per test keeps tests independent; service streams use events.stream_config.
    await events.ensure_stream(
        nc.jetstream(), StreamConfig(name=f"SHOP_{stream.upper()}", subjects=[f"shop.{stream}.>"], duplicate_window=600)
    )
    await events.ensure_stream(nc.jetstream(), events.dlq_config())
    js = nc.jetstream()
    js.test_service = stream  # type: ignore[attr-defined]
    yield js
    await nc.close()


async def stage(db: Database, service: str, amounts: range) -> None:
    async with db.transaction() as conn:
        for amount in amounts:
            await add_event(conn, outbox, f"shop.{service}.paid", common_pb2.Money(amount=amount, currency="USD"))


async def stream_messages(js: Any, service: str) -> int:
    info = await js.stream_info(events.stream_name(service))
    return int(info.state.messages)


async def count(db: Database, table: sa.Table) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


def kit_consumer(
    db: Database, js: Any, name: str, handler: Handler | PrefetchedHandler, **options: Any
) -> EventConsumer:
    """A consumer of this test's stream (`js.test_service`), durable `kit-<name>-<stream>`."""
    service = js.test_service
    return EventConsumer(
        db,
        js,
        inbox,
        service="kit",
        name=f"{name}-{service}",
        source_service=service,
        subjects=[f"shop.{service}.>"],
        handler=handler,
        **options,
    )


async def test_events_flow_from_outbox_to_consumer_and_redelivery_applies_once(db: Database, js: Any) -> None:
    service = js.test_service

    async def apply(conn: AsyncConnection, msg: Msg) -> None:
        await conn.execute(effects.insert().values(amount=common_pb2.Money.FromString(msg.data).amount))

    await stage(db, service, range(1, 11))
    relay = OutboxRelay(db, js, outbox, batch_size=4)
    while await relay.publish_batch():
        pass
    assert await stream_messages(js, service) == 10

    consumer = kit_consumer(db, js, "apply", apply, ack_wait=1.0)
    sub = await consumer.subscribe()
    first = await sub.fetch(10, timeout=5)
    # Applied and committed, then the process "dies" before acknowledging: JetStream redelivers.
    assert [await consumer.apply_once(m) for m in first] == [True] * 10
    redelivered = await sub.fetch(10, timeout=10)
    assert sorted(m.metadata.num_delivered for m in redelivered) == [2] * 10
    assert [await consumer.handle(m) for m in redelivered] == ["duplicate"] * 10
    assert await count(db, effects) == 10
    async with db.connect() as conn:
        total = (await conn.execute(sa.select(sa.func.sum(effects.c.amount)))).scalar_one()
    assert total == sum(range(1, 11))


async def test_a_failing_handler_is_retried_then_dead_lettered(db: Database, js: Any) -> None:
    service = js.test_service
    attempts: list[int] = []

    async def flaky(conn: AsyncConnection, msg: Msg) -> None:
        attempts.append(msg.metadata.num_delivered)
        await conn.execute(effects.insert().values(amount=1))  # rolled back with the failure
        if common_pb2.Money.FromString(msg.data).amount == 13 or len(attempts) == 1:
            raise ValueError("cannot apply")

    await stage(db, service, range(12, 14))  # 12 fails once then applies; 13 always fails
    relay = OutboxRelay(db, js, outbox)
    await relay.publish_batch()
    consumer = kit_consumer(db, js, "flaky", flaky, max_deliver=2)
    dlq = await js.pull_subscribe(f"shop.dlq.kit.kit-flaky-{service}", stream=events.DLQ_STREAM)
    task = asyncio.create_task(consumer.run())
    try:
        dead = (await dlq.fetch(1, timeout=15))[0]
    finally:
        task.cancel()
    assert common_pb2.Money.FromString(dead.data).amount == 13
    assert dead.headers is not None and dead.headers["Shop-Error"] == "ValueError: cannot apply"
    assert await count(db, effects) == 1  # only 12's effect, once


async def test_a_relay_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    db: Database, js: Any, nats_url: str
) -> None:
    service = js.test_service
    await stage(db, service, range(200))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "relay_worker.py"), db.engine.url.render_as_string(hide_password=False), nats_url],
        env=env,
    )
    try:

        async def some_published() -> bool:
            return await stream_messages(js, service) >= 50

        await eventually(some_published, within=30)
        worker.send_signal(signal.SIGKILL)  # mid-batch: rows of the current batch are in NATS, not marked sent
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    async with db.connect() as conn:
        unsent = (
            await conn.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
        ).scalar_one()
    published_before_restart = await stream_messages(js, service)
    assert 0 < unsent < 200
    assert published_before_restart > 200 - unsent  # some published rows were never marked sent

    relay = OutboxRelay(db, js, outbox)
    while await relay.publish_batch():
        pass
    assert await stream_messages(js, service) == 200  # JetStream dropped the re-sent duplicates
    sub = await js.pull_subscribe(f"shop.{service}.>", stream=events.stream_name(service))
    seen = sorted(common_pb2.Money.FromString(m.data).amount for m in await sub.fetch(200, timeout=5))
    assert seen == list(range(200))


async def test_an_ack_that_never_comes_fails_the_round_and_a_later_round_publishes_once(
    db: Database, js: Any, nats_url: str
) -> None:
    """A subject no stream holds yet, with a plain subscriber that never answers: the publishes arrive
    somewhere and no ack ever comes back, as when NATS dies between a publish and its ack."""
    service = f"lost{os.urandom(3).hex()}"
    await stage(db, service, range(5))
    listener = await events.connect(nats_url, "kit-test-listener")
    silent = await listener.subscribe(f"shop.{service}.>")
    relay = OutboxRelay(db, js, outbox, ack_timeout=0.5)
    try:
        with pytest.raises(TimeoutError):
            await relay.publish_batch()
        assert js.publish_async_pending() == 0  # the lost acks were given up, their slots freed
        async with db.connect() as conn:
            unsent = outbox.c.published_at.is_(None) & outbox.c.subject.startswith(f"shop.{service}.")
            assert (await conn.execute(sa.select(sa.func.count()).where(unsent))).scalar_one() == 5

        await events.ensure_stream(
            js, StreamConfig(name=events.stream_name(service), subjects=[f"shop.{service}.>"], duplicate_window=600)
        )
        assert await relay.publish_batch() == 5
        assert await stream_messages(js, service) == 5
    finally:
        await silent.unsubscribe()
        await listener.close()


async def test_the_inbox_sweeper_forgets_only_ids_older_than_the_retention(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        await conn.execute(
            inbox.insert(),
            [{"consumer": "c", "message_id": f"old-{i}", "received_at": now - timedelta(days=9)} for i in range(7)]
            + [{"consumer": "c", "message_id": "recent", "received_at": now}],
        )
    assert await sweep_inbox(db, inbox, timedelta(days=8), batch=3) == 7
    async with db.connect() as conn:
        left = (await conn.execute(sa.select(inbox.c.message_id))).scalars().all()
    assert left == ["recent"]


async def test_a_batch_is_applied_in_one_transaction_and_skips_what_the_inbox_has(db: Database, js: Any) -> None:
    service = js.test_service
    transactions: list[int] = []

    async def apply(conn: AsyncConnection, msg: Msg) -> None:
        transactions.append(int((await conn.execute(sa.text("SELECT txid_current()"))).scalar_one()))
        await conn.execute(effects.insert().values(amount=common_pb2.Money.FromString(msg.data).amount))

    await stage(db, service, range(1, 9))
    await OutboxRelay(db, js, outbox).publish_batch()
    consumer = kit_consumer(db, js, "batch", apply, ack_wait=1.0)
    sub = await consumer.subscribe()
    msgs = await sub.fetch(8, timeout=5)
    assert len(msgs) == 8
    assert await consumer.apply_batch_once(msgs[:3]) == [True] * 3  # applied, then "crashed" before the ack
    redelivered = await sub.fetch(8, timeout=10)
    by_id = {m.headers["Nats-Msg-Id"]: m for m in redelivered if m.headers}
    in_order = [by_id[m.headers["Nats-Msg-Id"]] for m in msgs if m.headers]
    transactions.clear()
    outcomes = await consumer.handle_batch(in_order)
    assert outcomes == ["duplicate"] * 3 + ["applied"] * 5
    assert len(transactions) == 5 and len(set(transactions)) == 1  # one transaction for the batch
    async with db.connect() as conn:
        amounts = sorted((await conn.execute(sa.select(effects.c.amount))).scalars())
        recorded = await conn.execute(
            sa.select(sa.func.count()).select_from(inbox).where(inbox.c.consumer == consumer.durable)
        )
    assert amounts == list(range(1, 9))
    assert recorded.scalar_one() == 8
    with pytest.raises(NatsTimeoutError):  # all acknowledged: nothing comes back
        await sub.fetch(1, timeout=2)


async def test_one_bad_message_in_a_batch_is_dead_lettered_and_the_others_apply_once(db: Database, js: Any) -> None:
    service = js.test_service

    async def apply(conn: AsyncConnection, msg: Msg) -> None:
        amount = common_pb2.Money.FromString(msg.data).amount
        await conn.execute(effects.insert().values(amount=amount))  # rolled back with the batch
        if amount == 5:
            raise ValueError("cannot apply 5")

    await stage(db, service, range(1, 11))
    await OutboxRelay(db, js, outbox).publish_batch()
    consumer = kit_consumer(db, js, "poison", apply, max_deliver=2)
    dlq = await js.pull_subscribe(f"shop.dlq.kit.kit-poison-{service}", stream=events.DLQ_STREAM)
    task = asyncio.create_task(consumer.run())
    try:
        dead = (await dlq.fetch(1, timeout=15))[0]
    finally:
        task.cancel()
    assert common_pb2.Money.FromString(dead.data).amount == 5
    assert dead.headers is not None and dead.headers["Shop-Error"] == "ValueError: cannot apply 5"
    async with db.connect() as conn:
        amounts = sorted((await conn.execute(sa.select(effects.c.amount))).scalars())
    assert amounts == [1, 2, 3, 4, 6, 7, 8, 9, 10]


async def test_a_batch_handler_gets_the_fresh_messages_in_order(db: Database, js: Any) -> None:
    service = js.test_service
    batches: list[list[int]] = []

    async def one(conn: AsyncConnection, msg: Msg) -> None:
        await many(conn, [msg])

    async def many(conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
        amounts = [common_pb2.Money.FromString(m.data).amount for m in msgs]
        batches.append(amounts)
        await conn.execute(effects.insert(), [{"amount": amount} for amount in amounts])

    await stage(db, service, range(1, 7))
    await OutboxRelay(db, js, outbox).publish_batch()
    consumer = kit_consumer(db, js, "many", one, batch_handler=many)
    sub = await consumer.subscribe()
    msgs = await sub.fetch(6, timeout=5)
    assert await consumer.apply_once(msgs[1])  # one message: the one-message handler
    assert await consumer.handle_batch(msgs) == ["applied", "duplicate", "applied", "applied", "applied", "applied"]
    assert batches == [[2], [1, 3, 4, 5, 6]]
    assert await count(db, effects) == 6


async def test_after_commit_runs_once_the_effects_are_visible_and_never_after_a_rollback(db: Database, js: Any) -> None:
    service = js.test_service
    seen: list[tuple[int, int]] = []  # (amount, effects visible to another connection at that moment)

    async def apply(conn: AsyncConnection, msg: Msg) -> None:
        amount = common_pb2.Money.FromString(msg.data).amount
        await conn.execute(effects.insert().values(amount=amount))

        async def look() -> None:
            seen.append((amount, await count(db, effects)))

        after_commit(lambda: looks.append(asyncio.ensure_future(look())))
        if amount == 3:
            raise RuntimeError("this message fails")

    looks: list[asyncio.Future[None]] = []
    await stage(db, service, range(1, 4))
    await OutboxRelay(db, js, outbox).publish_batch()
    consumer = kit_consumer(db, js, "after-commit", apply, ack_wait=1.0)
    sub = await consumer.subscribe()
    msgs = await sub.fetch(3, timeout=5)
    # Together they fail (the third); then one by one: the first two commit, the third rolls back.
    assert await consumer.handle_batch(msgs) == ["applied", "applied", "retried"]
    await asyncio.gather(*looks)
    # The looks run side by side (either may finish first); each saw at least its own commit's effects.
    assert sorted(amount for amount, _ in seen) == [1, 2]
    assert all(visible >= amount for amount, visible in seen)
    called: list[str] = []
    after_commit(lambda: called.append("now"))  # outside a consumer: at once
    assert called == ["now"]


async def test_an_outage_behind_a_handler_is_waited_out_and_never_dead_letters_the_message(
    db: Database, js: Any
) -> None:
    service = js.test_service
    nowhere = f"postgresql://shop@127.0.0.1:{free_port()}/shop"  # a database that is down
    tries: list[int] = []

    async def needs_a_database(conn: AsyncConnection, msg: Msg) -> None:
        tries.append(msg.metadata.num_delivered)
        if len(tries) <= 6:  # more tries than max_deliver allows deliveries
            await asyncpg.connect(nowhere, timeout=2)
        await conn.execute(effects.insert().values(amount=common_pb2.Money.FromString(msg.data).amount))

    await stage(db, service, range(21, 22))
    await OutboxRelay(db, js, outbox).publish_batch()
    consumer = kit_consumer(db, js, "outage", needs_a_database, max_deliver=2, ack_wait=2.0)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _has_effects(db, 1), within=30)
    finally:
        task.cancel()
    assert len(tries) == 7 and set(tries) == {1}  # held and tried again, never redelivered
    dlq = await js.pull_subscribe(f"shop.dlq.kit.kit-outage-{service}", stream=events.DLQ_STREAM)
    with pytest.raises(NatsTimeoutError):
        await dlq.fetch(1, timeout=1)


async def _has_effects(db: Database, expected: int) -> bool:
    return await count(db, effects) == expected


def test_what_counts_as_an_outage() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed")
    assert is_transient(refused)
    assert is_transient(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    assert is_transient(asyncpg.exceptions.SerializationError("could not serialize access"))
    try:
        try:
            raise refused
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert is_transient(Unavailable("fraud is restarting"))
    assert not is_transient(ValueError("cannot apply"))
    assert not is_transient(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not is_transient(InvalidArgument([]))
