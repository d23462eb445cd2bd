"""SQLAlchemy 2 async engine (asyncpg) and a unit of work.

Hot paths should use SQLAlchemy Core statements on the connection of the unit of work; the ORM
costs several times the CPU per operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as CloudNativePG secrets hold them) and use asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False):
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping: with asyncpg it costs round trips on every checkout (the largest share of a
            # point read). A dead connection fails its statement and is discarded; recycle bounds age.
            pool_pre_ping=False,
            pool_recycle=300,
            echo=echo,
        )
        # Reads outside a unit of work skip BEGIN/ROLLBACK round trips.
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        SQLAlchemyInstrumentor().instrument(engine=self.engine.sync_engine, enable_commenter=False)

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

    async def dispose(self) -> None:
        await self.engine.dispose()
