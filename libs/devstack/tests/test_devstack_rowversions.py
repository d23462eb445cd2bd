"""What the gRPC fuzzer's "a refused call changes no row" check reads, against a real PostgreSQL: a
committed insert, update or delete is a change; a row lock, a rolled-back write and a read are not."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from shop_devstack.rowversions import RowVersions
from shopkit.testing import Postgres


def run(url: str, *statements: str) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(main())


def test_committed_writes_change_the_versions_and_nothing_else_does(postgres: Postgres) -> None:
    name = make_url(postgres.create_database("rowversions")).database
    assert name
    url = postgres.server.get_uri(name)
    run(url, "CREATE TABLE items (id int PRIMARY KEY, name text)", "INSERT INTO items VALUES (1, 'a')")
    versions = RowVersions({name: url})

    def changed_by(*statements: str) -> list[str]:
        before = versions.read([name])
        run(url, *statements)
        return RowVersions.changed(before, versions.read([name]))

    try:
        assert changed_by("BEGIN", "SELECT * FROM items FOR UPDATE", "COMMIT") == []
        assert changed_by("BEGIN", "UPDATE items SET name = 'b'", "INSERT INTO items VALUES (2, 'c')", "ROLLBACK") == []
        assert changed_by("SELECT count(*) FROM items") == []
        assert changed_by("UPDATE items SET name = 'b' WHERE id = 1") == [f"{name}.items"]
        assert changed_by("INSERT INTO items VALUES (3, 'd')") == [f"{name}.items"]
        assert changed_by("DELETE FROM items WHERE id = 3") == [f"{name}.items"]
        assert versions.quiet([name], settle=0.05) == versions.read([name])
    finally:
        versions.close()
