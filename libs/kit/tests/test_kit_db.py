"""Driver reads (`DriverQuery`, `Database.fetch`) against real PostgreSQL: same values and consistency
as SQLAlchemy's reads, a span per statement, bounded connections, recovery from a lost connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from shopkit import tracing
from shopkit.db import Database, DriverQuery
from shopkit.testing import Postgres

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tags", ARRAY(sa.Text), nullable=False),
    sa.Column("details", JSONB, nullable=False),
    sa.Column("weight", sa.BigInteger, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
BY_ID = sa.select(items).where(items.c.id == sa.bindparam("id"))
BY_ID_READ = DriverQuery(BY_ID)
BACKEND_PID = DriverQuery(sa.select(sa.func.pg_backend_pid().label("pid")))


class Upper(sa.types.TypeDecorator[str]):
    """A column type whose values SQLAlchemy post-processes (a DriverQuery must refuse it)."""

    impl = sa.Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else str(value).upper()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("kit-test").add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def db(postgres: Postgres) -> AsyncIterator[Database]:
    database = Database(postgres.create_database("driver"), pool_size=4, driver_readers=2)
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def insert_item(db: Database, name: str = "kettle", weight: int | None = 1200) -> uuid.UUID:
    item_id = uuid.uuid4()
    async with db.transaction() as conn:
        await conn.execute(
            items.insert().values(
                id=item_id,
                name=name,
                tags=["kitchen", "steel"],
                details={"volume": "1.7 l", "colors": ["red", "black"]},
                weight=weight,
                active=True,
                created_at=datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
            )
        )
    return item_id


async def test_driver_rows_hold_what_sqlalchemy_reads(db: Database) -> None:
    for weight in (1200, None):
        item_id = await insert_item(db, weight=weight)
        async with db.connect() as conn:
            expected = dict((await conn.execute(BY_ID, {"id": item_id})).mappings().one())
        (row,) = await db.fetch(BY_ID_READ, id=item_id)
        assert dict(row) == expected
        assert isinstance(row["details"], dict) and isinstance(row["tags"], list)
    assert await db.fetch(BY_ID_READ, id=uuid.uuid4()) == []


async def test_driver_reads_see_each_commit_and_are_traced(db: Database, spans: InMemorySpanExporter) -> None:
    item_id = await insert_item(db)
    async with db.transaction() as conn:
        await conn.execute(items.update().where(items.c.id == item_id).values(name="teapot"))
    spans.clear()
    with tracing.tracer("test").start_as_current_span("request") as parent:
        (row,) = await db.fetch(BY_ID_READ, id=item_id)
    assert row["name"] == "teapot"
    (statement,) = [s for s in spans.get_finished_spans() if s.name == "SELECT"]
    assert statement.kind is SpanKind.CLIENT
    assert statement.parent is not None and statement.parent.span_id == parent.get_span_context().span_id
    attributes = dict(statement.attributes or {})
    assert attributes["db.system"] == "postgresql"
    assert attributes["db.operation"] == "SELECT"
    assert str(attributes["db.statement"]).startswith("SELECT items.id")
    assert attributes["db.name"] == db.engine.url.database


async def test_a_failed_statement_is_traced_and_the_connection_stays_usable(
    db: Database, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    with pytest.raises(asyncpg.DataError):
        await db.fetch(DriverQuery(sa.select(sa.cast(sa.bindparam("n", type_=sa.Text), sa.Integer))), n="x")
    (failed,) = [s for s in spans.get_finished_spans() if s.name == "SELECT"]
    assert failed.status.status_code is StatusCode.ERROR
    item_id = await insert_item(db)
    assert len(await db.fetch(BY_ID_READ, id=item_id)) == 1


async def test_connections_are_bounded_and_go_back_on_dispose(postgres: Postgres) -> None:
    db = Database(postgres.create_database("driver"), pool_size=4, driver_readers=2)
    async with db.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    item_id = await insert_item(db)
    pool = db.engine.sync_engine.pool
    results = await asyncio.gather(*(db.fetch(BY_ID_READ, id=item_id) for _ in range(20)))
    assert all(len(rows) == 1 for rows in results)
    assert pool.checkedout() <= 2  # type: ignore[attr-defined]
    # Transactions still get connections of their own.
    async with db.transaction() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(items)) == 1
    await db.dispose()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_lost_connection_is_replaced(db: Database, postgres: Postgres) -> None:
    (first,) = await db.fetch(BACKEND_PID)
    (again,) = await db.fetch(BACKEND_PID)
    assert again["pid"] == first["pid"]  # the reader is kept between calls
    async with db.connect() as conn:
        await conn.execute(sa.select(sa.func.pg_terminate_backend(first["pid"])))
    # Which error depends on when the driver notices (admin shutdown, lost connection, protocol state).
    with pytest.raises(Exception):  # noqa: B017
        await db.fetch(BACKEND_PID)
    (replaced,) = await db.fetch(BACKEND_PID)
    assert replaced["pid"] != first["pid"]


async def test_driver_queries_refuse_what_they_cannot_run_faithfully(db: Database) -> None:
    with pytest.raises(ValueError, match="IN lists"):
        await db.fetch(DriverQuery(sa.select(items.c.id).where(items.c.name.in_(["a", "b"]))))
    processed = sa.select(sa.cast(items.c.name, Upper).label("shout")).where(items.c.id == sa.bindparam("id"))
    with pytest.raises(ValueError, match="result processing"):
        await db.fetch(DriverQuery(processed), id=uuid.uuid4())
    with pytest.raises(TypeError, match="missing query parameters"):
        await db.fetch(BY_ID_READ)


RENAME = DriverQuery(
    items.update()
    .where(items.c.id == sa.bindparam("item_id"), items.c.name == sa.bindparam("expected"))
    .values(name=sa.bindparam("new_name"))
    .returning(items.c.name, items.c.details)
)
DELETE = DriverQuery(items.delete().where(items.c.id == sa.bindparam("item_id")))


async def test_driver_writes_are_conditional_and_return_rows(db: Database, spans: InMemorySpanExporter) -> None:
    item_id = await insert_item(db)
    spans.clear()
    (row,) = await db.fetch(RENAME, item_id=item_id, expected="kettle", new_name="teapot")
    assert row["name"] == "teapot" and row["details"]["volume"] == "1.7 l"
    assert await db.fetch(RENAME, item_id=item_id, expected="kettle", new_name="pot") == []  # condition failed
    (update, _) = [s for s in spans.get_finished_spans() if s.name == "UPDATE"]
    assert dict(update.attributes or {})["db.operation"] == "UPDATE"
    async with db.driver() as conn:
        assert await conn.execute(DELETE, item_id=item_id) == 1
        assert await conn.fetchrow(BY_ID_READ, id=item_id) is None


async def test_a_driver_transaction_commits_or_rolls_back_as_a_whole(db: Database) -> None:
    first, second = await insert_item(db, "first"), await insert_item(db, "second")
    async with db.driver_transaction() as conn:
        await conn.execute(RENAME, item_id=first, expected="first", new_name="one")
        await conn.execute(RENAME, item_id=second, expected="second", new_name="two")
    with pytest.raises(RuntimeError):
        async with db.driver_transaction() as conn:
            await conn.execute(RENAME, item_id=first, expected="one", new_name="uno")
            raise RuntimeError("the use case failed")
    with pytest.raises(asyncpg.DataError):
        async with db.driver_transaction() as conn:
            await conn.execute(RENAME, item_id=second, expected="two", new_name="dos")
            await conn.fetch(DriverQuery(sa.select(sa.cast(sa.bindparam("n", type_=sa.Text), sa.Integer))), n="x")
    names = {row["name"] for item in (first, second) for row in await db.fetch(BY_ID_READ, id=item)}
    assert names == {"one", "two"}


async def test_statements_of_an_untraced_block_make_no_spans(db: Database, spans: InMemorySpanExporter) -> None:
    item_id = await insert_item(db)
    spans.clear()
    with tracing.untraced():
        assert len(await db.fetch(BY_ID_READ, id=item_id)) == 1
    assert [s for s in spans.get_finished_spans() if s.name == "SELECT"] == []
    assert len(await db.fetch(BY_ID_READ, id=item_id)) == 1  # and traced again after it
    assert len([s for s in spans.get_finished_spans() if s.name == "SELECT"]) == 1
