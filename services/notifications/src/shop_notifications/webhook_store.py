"""Queries of outbound webhooks: subscriptions, the deliveries the event consumers queue, the
sender's claims and outcomes with their log, replays and retention."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_notifications.tables import webhook_attempts, webhook_deliveries, webhooks
from shop_notifications.webhook_domain import WebhookStatus

PENDING, DELIVERED, DEAD = (status.value for status in WebhookStatus)
Row = dict[str, Any]


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, as the sender puts it on the wire."""

    delivery_id: uuid.UUID
    url: str
    secret: str
    event_id: str
    event_type: str
    payload: str
    attempts: int  # including the one being made


# ---------------------------------------------------------------------- subscriptions


async def add_webhook(conn: AsyncConnection, values: Row) -> Row:
    """Insert a webhook; with a request id seen before, the webhook that request made."""
    statement = insert(webhooks).values(**values).on_conflict_do_nothing(index_elements=[webhooks.c.request_id])
    await conn.execute(statement)
    key = webhooks.c.request_id == values["request_id"] if values.get("request_id") else webhooks.c.id == values["id"]
    row = (await conn.execute(sa.select(webhooks).where(key))).mappings().one()
    return dict(row)


async def get_webhook(conn: AsyncConnection, webhook_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    statement = sa.select(webhooks).where(webhooks.c.id == webhook_id)
    if lock:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row is not None else None


async def update_webhook(conn: AsyncConnection, webhook_id: uuid.UUID, values: Row) -> Row | None:
    statement = (
        webhooks.update()
        .where(webhooks.c.id == webhook_id)
        .values(**values, updated_at=sa.func.now())
        .returning(*webhooks.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row is not None else None


async def list_webhooks(conn: AsyncConnection, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    statement = sa.select(webhooks).order_by(webhooks.c.created_at.desc(), webhooks.c.id.desc()).limit(limit)
    if after is not None:
        statement = statement.where(_before(webhooks, after))
    return [dict(row) for row in (await conn.execute(statement)).mappings()]


def _before(table: sa.Table, after: tuple[datetime, uuid.UUID]) -> sa.ColumnElement[bool]:
    at, row_id = after
    return sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(sa.literal(at), sa.literal(row_id))


# ---------------------------------------------------------------------- deliveries from events


async def subscriptions(conn: AsyncConnection) -> dict[str, list[uuid.UUID]]:
    """The active webhooks by event type (read once per batch of events: the few webhooks, not a
    query per event, so a stream of thousands of stock changes nobody subscribed to costs nothing)."""
    statement = sa.select(webhooks.c.id, webhooks.c.event_types).where(webhooks.c.active).order_by(webhooks.c.id)
    found: dict[str, list[uuid.UUID]] = {}
    for row in await conn.execute(statement):
        for event_type in row.event_types:
            found.setdefault(event_type, []).append(row.id)
    return found


async def add_deliveries(
    conn: AsyncConnection, webhook_ids: Sequence[uuid.UUID], *, event_id: str, event_type: str, payload: str
) -> int:
    """Queue the event for each webhook; a (webhook, event) queued before is skipped. How many new."""
    if not webhook_ids:
        return 0
    rows = [
        {"id": uuid.uuid4(), "webhook_id": w, "event_id": event_id, "event_type": event_type, "payload": payload}
        for w in webhook_ids
    ]
    statement = (
        insert(webhook_deliveries)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[webhook_deliveries.c.webhook_id, webhook_deliveries.c.event_id])
        .returning(webhook_deliveries.c.id)
    )
    return len((await conn.execute(statement)).all())


# ---------------------------------------------------------------------- the sender


async def claim_due(conn: AsyncConnection, limit: int, lease: timedelta) -> list[Outgoing]:
    """Take up to `limit` due deliveries of active webhooks for one attempt each (as `store.claim_due`
    does for mails: the next attempt moves a lease ahead, SKIP LOCKED for several replicas)."""
    d, w = webhook_deliveries, webhooks
    due = (
        sa.select(d.c.id)
        .join(w, w.c.id == d.c.webhook_id)
        .where(d.c.status == PENDING, d.c.next_attempt_at <= sa.func.now(), w.c.active)
        .order_by(d.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
        .scalar_subquery()
    )
    claimed = (
        d.update()
        .where(d.c.id.in_(due))
        .values(attempts=d.c.attempts + 1, next_attempt_at=sa.func.now() + lease)
        .returning(d.c.id, d.c.webhook_id, d.c.event_id, d.c.event_type, d.c.payload, d.c.attempts)
        .cte("claimed")
    )
    statement = sa.select(claimed, w.c.url, w.c.secret).join(w, w.c.id == claimed.c.webhook_id)
    rows = (await conn.execute(statement)).all()
    return [Outgoing(r.id, r.url, r.secret, r.event_id, r.event_type, r.payload, r.attempts) for r in rows]


async def record_attempt(
    conn: AsyncConnection,
    delivery: Outgoing,
    *,
    status_code: int,
    latency_ms: int,
    error: str,
    response_body: str,
    outcome: WebhookStatus,
    next_attempt_at: datetime | None = None,
) -> None:
    """Log one attempt and move its delivery on: delivered, dead, or pending until `next_attempt_at`.
    A delivery replayed meanwhile (no longer at this attempt's count) keeps its new schedule."""
    await conn.execute(
        webhook_attempts.insert().values(
            delivery_id=delivery.delivery_id,
            attempt=delivery.attempts,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error[:1000],
            response_body=response_body,
        )
    )
    d = webhook_deliveries
    values: Row = {"status": outcome.value, "last_error": error[:1000]}
    if outcome is WebhookStatus.DELIVERED:
        values["delivered_at"] = sa.func.now()
    elif outcome is WebhookStatus.PENDING:
        values["next_attempt_at"] = next_attempt_at
    await conn.execute(
        d.update()
        .where(d.c.id == delivery.delivery_id, d.c.status == PENDING, d.c.attempts == delivery.attempts)
        .values(**values)
    )


async def next_due(conn: AsyncConnection) -> datetime | None:
    d = webhook_deliveries
    statement = sa.select(sa.func.min(d.c.next_attempt_at)).where(d.c.status == PENDING)
    value: datetime | None = (await conn.execute(statement)).scalar()
    return value


async def replay(conn: AsyncConnection, webhook_id: uuid.UUID, delivery_id: uuid.UUID | None) -> int:
    """Queue deliveries again with a fresh attempt budget: one (any status but pending), or every
    dead one of the webhook. How many."""
    d = webhook_deliveries
    where = [d.c.webhook_id == webhook_id]
    where += [d.c.id == delivery_id, d.c.status != PENDING] if delivery_id is not None else [d.c.status == DEAD]
    statement = (
        d.update()
        .where(*where)
        .values(status=PENDING, attempts=0, next_attempt_at=sa.func.now(), delivered_at=None)
        .returning(d.c.id)
    )
    return len((await conn.execute(statement)).all())


async def delete_settled(conn: AsyncConnection, older_than: timedelta, limit: int) -> int:
    """Delete up to `limit` delivered or dead deliveries (and their log) older than `older_than`."""
    d = webhook_deliveries
    old = (
        sa.select(d.c.id)
        .where(d.c.status != PENDING, d.c.created_at < sa.func.now() - older_than)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return int((await conn.execute(d.delete().where(d.c.id.in_(old)))).rowcount)


# ---------------------------------------------------------------------- the delivery log


async def get_delivery(conn: AsyncConnection, delivery_id: uuid.UUID) -> Row | None:
    row = (await conn.execute(sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))).first()
    return dict(row._mapping) if row is not None else None


async def list_deliveries(
    conn: AsyncConnection,
    webhook_id: uuid.UUID,
    *,
    status: WebhookStatus | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[Row], dict[uuid.UUID, list[Row]]]:
    """Newest first by (created_at, id); and each one's attempts, oldest first."""
    d = webhook_deliveries
    statement = sa.select(d).where(d.c.webhook_id == webhook_id).order_by(d.c.created_at.desc(), d.c.id.desc())
    if status is not None:
        statement = statement.where(d.c.status == status.value)
    if after is not None:
        statement = statement.where(_before(d, after))
    rows = [dict(row) for row in (await conn.execute(statement.limit(limit))).mappings()]
    attempts: dict[uuid.UUID, list[Row]] = {row["id"]: [] for row in rows}
    if rows:
        a = webhook_attempts
        log = sa.select(a).where(a.c.delivery_id.in_(list(attempts))).order_by(a.c.id)
        for entry in (await conn.execute(log)).mappings():
            attempts[entry["delivery_id"]].append(dict(entry))
    return rows, attempts
