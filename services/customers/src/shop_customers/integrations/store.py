"""The `integration_clients` table and its reads and writes, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers.integrations.domain import IntegrationClient, Secrets
from shop_customers.tables import metadata

integration_clients = sa.Table(
    "integration_clients",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("previous_secret_hash", sa.Text, nullable=False, server_default=""),
    sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
    sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("request_id", sa.Text, unique=True),  # Create is idempotent by it (NULL: no key)
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _client(row: Any) -> IntegrationClient:
    return IntegrationClient(
        client_id=row.client_id,
        name=row.name,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        secret_rotated_at=row.secret_rotated_at,
        previous_secret_expires_at=row.previous_secret_expires_at if row.previous_secret_hash else None,
        revoked_at=row.revoked_at,
        version=row.version,
    )


async def insert_client(conn: AsyncConnection, client: IntegrationClient, secret_hash: str, request_id: str) -> bool:
    """False when a client with this request id exists already (nothing written)."""
    values = {
        "client_id": client.client_id,
        "name": client.name,
        "scopes": list(client.scopes),
        "secret_hash": secret_hash,
        "secret_rotated_at": client.secret_rotated_at,
        "created_at": client.created_at,
        "request_id": request_id or None,
    }
    statement = insert(integration_clients).values(**values).on_conflict_do_nothing(index_elements=["request_id"])
    return (await conn.execute(statement)).rowcount == 1


async def by_request(conn: AsyncConnection, request_id: str) -> IntegrationClient | None:
    query = sa.select(integration_clients).where(integration_clients.c.request_id == request_id)
    row = (await conn.execute(query)).one_or_none()
    return _client(row) if row is not None else None


async def client(
    conn: AsyncConnection, client_id: str, *, lock: bool = False
) -> tuple[IntegrationClient, Secrets] | None:
    query = sa.select(integration_clients).where(integration_clients.c.client_id == client_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        return None
    return _client(row), Secrets(row.secret_hash, row.previous_secret_hash, row.previous_secret_expires_at)


async def clients(conn: AsyncConnection) -> list[IntegrationClient]:
    query = sa.select(integration_clients).order_by(integration_clients.c.created_at.desc())
    return [_client(row) for row in await conn.execute(query)]


async def rotate(conn: AsyncConnection, client_id: str, secret_hash: str, now: datetime, grace_until: datetime) -> None:
    table = integration_clients
    await conn.execute(
        table.update()
        .where(table.c.client_id == client_id)
        .values(
            previous_secret_hash=table.c.secret_hash,
            previous_secret_expires_at=grace_until,
            secret_hash=secret_hash,
            secret_rotated_at=now,
            version=table.c.version + 1,
        )
    )


async def revoke(conn: AsyncConnection, client_id: str, now: datetime) -> None:
    table = integration_clients
    await conn.execute(
        table.update()
        .where(table.c.client_id == client_id, table.c.revoked_at.is_(None))
        .values(revoked_at=now, version=table.c.version + 1)
    )
