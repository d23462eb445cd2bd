"""SQLAlchemy 2 async engine (asyncpg) and a unit of work.

Units of work use SQLAlchemy Core statements on the connection of `transaction()`; the ORM costs
several times the CPU per operation. The hottest paths go one step further with `DriverQuery`
(`shopkit.sqldriver`): the statement is compiled once and runs on the asyncpg connection itself,
still traced: `Database.fetch` for one statement (autocommit), `driver_transaction()` for a unit of
work made only of such statements.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from shopkit import tracing
from shopkit.sqldriver import DriverConnection, DriverQuery, Row

__all__ = ["Database", "DriverConnection", "DriverQuery", "Row", "async_url"]


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as CloudNativePG secrets hold them) and use asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


POOL_RECYCLE_SECONDS = 300


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        echo: bool = False,
        driver_readers: int | None = None,
    ):
        """`driver_readers`: connections the driver paths (`fetch`, `driver`, `driver_transaction`) may
        keep checked out. Default: `pool_size`, since the hot paths run there; SQLAlchemy's units of
        work then use the overflow (one connection fewer when there is no overflow)."""
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping: with asyncpg it costs round trips on every checkout (the largest share of a
            # point read). A dead connection fails its statement and is discarded; recycle bounds age.
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            echo=echo,
        )
        # Reads outside a unit of work skip BEGIN/ROLLBACK round trips.
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        SQLAlchemyInstrumentor().instrument(engine=self.engine.sync_engine, enable_commenter=False)
        self._tracer = tracing.tracer("shopkit.db")
        self._span_attributes = _connection_attributes(self.engine.url)
        default = pool_size if max_overflow != 0 else pool_size - 1
        limit = driver_readers if driver_readers is not None else max(1, default)
        if limit < 1 or (max_overflow >= 0 and limit >= pool_size + max_overflow):  # -1: unlimited overflow
            raise ValueError("driver_readers must be at least 1 and leave connections for units of work")
        self._readers = _DriverReaders(self.engine, limit)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A unit of work: one connection, one transaction, committed on success, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads outside a unit of work: each statement sees committed data (autocommit)."""
        async with self._reader.connect() as conn:
            yield conn

    async def fetch(self, query: DriverQuery, **params: Any) -> list[Row]:
        """Run `query` on the asyncpg driver of a pooled connection: the rows, as asyncpg Records.

        Same consistency as `connect()`: no transaction, the statement sees committed data (a single
        INSERT/UPDATE/DELETE commits on its own). The statement gets a CLIENT span like those of the
        SQLAlchemy instrumentation (name, db.* attributes).
        """
        async with self.driver() as conn:
            return await conn.fetch(query, **params)

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[DriverConnection]:
        """A driver connection in autocommit mode, for DriverQuery statements (each commits on its own)."""
        readers = self._readers
        await readers.slots.acquire()
        try:
            reader = readers.idle.pop() if readers.idle else await readers.open()
            try:
                yield DriverConnection(reader.driver, self.engine.dialect, self._tracer, self._span_attributes)
            except BaseException as error:
                # An error PostgreSQL reported, or a cancelled call (asyncpg cancels the query), leaves
                # the connection usable; anything else (lost connection, protocol state) may not.
                usable = isinstance(error, asyncio.CancelledError) or (
                    isinstance(error, asyncpg.PostgresError) and error.severity not in ("FATAL", "PANIC")
                )
                if not (usable and readers.keep(reader)):
                    await readers.give_back(reader)
                raise
            if not readers.keep(reader):
                await readers.give_back(reader)
        finally:
            readers.slots.release()

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[DriverConnection]:
        """A unit of work on the driver: DriverQuery statements in one transaction, committed on
        success, rolled back on error. For hot paths whose statements are all DriverQuery."""
        async with self.driver() as conn, conn.driver.transaction():
            yield conn

    async def dispose(self) -> None:
        await self._readers.close()
        await self.engine.dispose()


@dataclass(frozen=True, slots=True)
class _Reader:
    pooled: PoolProxiedConnection
    driver: Any  # asyncpg.Connection
    expires: float  # time.monotonic() after which it goes back to the pool (which then recycles it)


class _DriverReaders:
    """Connections of the engine's pool that `Database.fetch` keeps checked out and hands around in a list.

    A checkout from SQLAlchemy's pool and back costs about as much CPU as a point read itself (greenlet
    hops, pool events, reset), and bursts above the pool size close and reopen overflow connections.
    So `fetch` keeps up to `limit` connections, taken from the pool when needed, and gives one back when
    it broke (the pool discards it), when it reached the recycle age, and on dispose.
    """

    def __init__(self, engine: AsyncEngine, limit: int):
        self.engine = engine
        self.slots = asyncio.Semaphore(limit)  # a slot per connection held, idle or in use
        self.idle: list[_Reader] = []

    async def open(self) -> _Reader:
        pooled = await self.engine.raw_connection()
        return _Reader(pooled, pooled.driver_connection, time.monotonic() + POOL_RECYCLE_SECONDS)

    def keep(self, reader: _Reader) -> bool:
        """Put a reader back in the list unless its connection broke or is due for recycling."""
        if reader.driver.is_closed() or reader.driver.is_in_transaction() or time.monotonic() > reader.expires:
            return False
        self.idle.append(reader)
        return True

    async def give_back(self, reader: _Reader) -> None:
        # Under greenlet_spawn: the pool may close the connection, which awaits the driver.
        if reader.driver.is_closed():
            await greenlet_spawn(reader.pooled.invalidate)
        else:
            await greenlet_spawn(reader.pooled.close)

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for reader in idle:
            await self.give_back(reader)


def _connection_attributes(url: sa.URL) -> dict[str, str | int]:
    """The attributes the SQLAlchemy instrumentation puts on statement spans, from the engine's URL."""
    attributes: dict[str, str | int] = {"db.system": "postgresql"}
    if url.host:
        attributes["net.peer.name"] = url.host
    if url.port:
        attributes["net.peer.port"] = url.port
    if url.database:
        attributes["db.name"] = url.database
    if url.username:
        attributes["db.user"] = url.username
    return attributes
