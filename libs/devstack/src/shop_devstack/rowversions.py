"""Whether any row of a launched stack's databases changed: for each table, how many rows it holds and
the newest transaction that wrote one of them (its `xmin`).

A committed INSERT, UPDATE or DELETE changes one of the two; a row lock (SELECT ... FOR UPDATE) and a
write that was rolled back change neither, so a call that was refused may take locks or start a write
and still read as "changed nothing". For synchronous tests: it runs its own event loop, which must not
be in a thread that already has one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from shop_devstack.chaos.facts import socket_dir

TABLES = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'alembic_version'
ORDER BY table_name
"""

Versions = dict[tuple[str, str], tuple[int, int]]  # (database, table) -> (rows, newest writer's xid)


def _versions_query(tables: Sequence[str]) -> str:
    return " UNION ALL ".join(
        f"SELECT '{table}' AS name, count(*) AS rows, coalesce(max(xmin::text::bigint), 0) AS writer "
        f'FROM public."{table}"'
        for table in tables
    )


def stack_databases(data_dir: Path, databases: Sequence[str]) -> dict[str, str]:
    """URLs of a launched stack's databases, as the embedded server's superuser over its unix socket."""
    host = socket_dir(data_dir)
    return {database: f"postgresql://postgres@/{database}?host={host}" for database in databases}


class RowVersions:
    def __init__(self, urls: Mapping[str, str]):
        """`urls`: database name -> a PostgreSQL URL to read it with."""
        self._loop = asyncio.new_event_loop()
        self._connections: dict[str, Any] = {}
        self._queries: dict[str, str] = {}
        self._loop.run_until_complete(self._open(urls))

    async def _open(self, urls: Mapping[str, str]) -> None:
        for database, url in urls.items():
            conn = await asyncpg.connect(url, timeout=15)
            self._connections[database] = conn
            tables = [row["table_name"] for row in await conn.fetch(TABLES)]
            self._queries[database] = _versions_query(tables)

    def read(self, databases: Sequence[str]) -> Versions:
        return self._loop.run_until_complete(self._read(databases))

    async def _read(self, databases: Sequence[str]) -> Versions:
        versions: Versions = {}
        for database in databases:
            for row in await self._connections[database].fetch(self._queries[database]):
                versions[(database, row["name"])] = (int(row["rows"]), int(row["writer"]))
        return versions

    def quiet(self, databases: Sequence[str], settle: float = 0.5, within: float = 15.0) -> Versions:
        """The versions once nothing has changed for `settle` seconds (or `within` passed): the work
        other processes were still doing (events, the outbox relay) is done."""
        deadline = time.monotonic() + within
        versions = self.read(databases)
        while time.monotonic() < deadline:
            time.sleep(settle)
            now = self.read(databases)
            if now == versions:
                break
            versions = now
        return versions

    @staticmethod
    def changed(before: Versions, after: Versions) -> list[str]:
        """`database.table` of every table whose rows changed."""
        return [
            f"{database}.{table}"
            for (database, table), version in after.items()
            if before.get((database, table)) != version
        ]

    def close(self) -> None:
        for conn in self._connections.values():
            self._loop.run_until_complete(conn.close())
        self._loop.close()
