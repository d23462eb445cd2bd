"""The driver outbox insert: the same rows as `add_events` (meta filled, trace headers), in staging
order, inside the caller's driver transaction (rolled back with it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from shop.cart.v1 import events_pb2
from shop.common.v1 import common_pb2
from shopkit.db import Database
from shopkit.outbox import outbox_table
from shopkit.outbox_driver import OutboxWriter
from shopkit.testing import Postgres

metadata = sa.MetaData()
outbox = outbox_table(metadata)
writer = OutboxWriter(outbox)


@pytest.fixture
async def db(postgres: Postgres) -> AsyncIterator[Database]:
    database = Database(postgres.create_database("outbox_driver"), pool_size=4, driver_readers=2)
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_events_are_staged_in_order_with_their_meta(db: Database) -> None:
    messages = [events_pb2.CartCheckedOut(cart_id=f"cart-{n}") for n in range(3)]
    async with db.driver_transaction() as conn:
        ids = await writer.add(conn, [(f"shop.test.e{n}", m, f"agg-{n}") for n, m in enumerate(messages)])
        assert await writer.add(conn, []) == []
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(outbox).order_by(outbox.c.seq))).all()
    assert [row.id for row in rows] == ids
    assert [row.subject for row in rows] == ["shop.test.e0", "shop.test.e1", "shop.test.e2"]
    staged = [events_pb2.CartCheckedOut.FromString(row.payload) for row in rows]
    assert [e.cart_id for e in staged] == ["cart-0", "cart-1", "cart-2"]
    assert [(e.meta.event_id, e.meta.aggregate_id) for e in staged] == [(str(i), f"agg-{n}") for n, i in enumerate(ids)]
    assert all(row.published_at is None and isinstance(row.headers, dict) for row in rows)


async def test_staged_events_roll_back_with_the_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.driver_transaction() as conn:
            await writer.add(conn, [("shop.test.gone", common_pb2.Money(amount=1, currency="EUR"), "")])
            raise RuntimeError("the unit of work fails")
    async with db.connect() as conn:
        gone = (await conn.execute(sa.select(outbox).where(outbox.c.subject == "shop.test.gone"))).all()
    assert gone == []
