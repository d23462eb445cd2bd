"""Alembic migrations per service, run as their own step (`shop-<service> migrate`).

Each service keeps `migrations/` inside its package; its `env.py` is one call to `run_env`.
Concurrent runs (two Helm hook pods, the launcher and a test) are serialised by an advisory lock.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from shopkit.db import async_url

_LOCK_KEY = 0x5E0B_0001
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["url"] = async_url(url)
    return config


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    """Bring the database to `revision`. Blocking: call it outside an event loop or via to_thread."""
    # alembic's migration context is process-global: threads (tests migrating several databases at
    # once) must take turns.
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(migrations_dir, url), revision)


def run_env(target_metadata: sa.MetaData) -> None:
    """The body of every service's migrations/env.py (online mode only)."""
    from alembic import context

    url = context.config.attributes["url"]

    def run(connection: sa.Connection) -> None:
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})

    async def main() -> None:
        engine = create_async_engine(url, poolclass=sa.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(main())
