"""Queries of the notifications service: writing mails, the sender's claims and outcomes, reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_notifications.domain import DeliveryStatus, MailKind, Rendered
from shop_notifications.tables import inbox, mails, metadata

__all__ = ["inbox", "mails", "metadata"]


@dataclass(frozen=True)
class Outgoing:
    """A claimed mail, as the sender puts it on the wire."""

    mail_id: uuid.UUID
    kind: str
    order_id: str
    recipient: str
    subject: str
    text: str
    html: str
    message_id: str
    attempts: int  # including the one being made


async def add_mail(
    conn: AsyncConnection,
    *,
    mail_id: uuid.UUID,
    kind: MailKind,
    event_id: str,
    order_id: str,
    recipient: str,
    rendered: Rendered,
    message_id: str,
    customer_id: str = "",
) -> bool:
    """Queue a mail in the caller's transaction. False: this event's mail exists already."""
    statement = (
        insert(mails)
        .values(
            id=mail_id,
            kind=kind.value,
            event_id=event_id,
            order_id=order_id,
            customer_id=customer_id,
            recipient=recipient,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            message_id=message_id,
            # Not now(): the mails of one batch of events (one transaction) keep their order.
            created_at=sa.func.clock_timestamp(),
        )
        .on_conflict_do_nothing(index_elements=[mails.c.event_id])
        .returning(mails.c.id)
    )
    return (await conn.execute(statement)).first() is not None


async def claim_due(conn: AsyncConnection, limit: int, lease: timedelta) -> list[Outgoing]:
    """Take up to `limit` due mails for one attempt each: their next attempt moves a lease ahead, so
    another sender (or this one after a crash) takes them again only if this attempt never records
    its outcome. SKIP LOCKED lets several replicas claim side by side."""
    due = (
        sa.select(mails.c.id)
        .where(mails.c.status == DeliveryStatus.PENDING.value, mails.c.next_attempt_at <= sa.func.now())
        .order_by(mails.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        mails.update()
        .where(mails.c.id.in_(due))
        .values(attempts=mails.c.attempts + 1, next_attempt_at=sa.func.now() + lease)
        .returning(
            mails.c.id,
            mails.c.kind,
            mails.c.order_id,
            mails.c.recipient,
            mails.c.subject,
            mails.c.text_body,
            mails.c.html_body,
            mails.c.message_id,
            mails.c.attempts,
        )
    )
    rows = (await conn.execute(statement)).all()
    return [
        Outgoing(r.id, r.kind, r.order_id, r.recipient, r.subject, r.text_body, r.html_body, r.message_id, r.attempts)
        for r in rows
    ]


async def mark_sent(conn: AsyncConnection, mail_id: uuid.UUID) -> None:
    await conn.execute(
        mails.update()
        .where(mails.c.id == mail_id, mails.c.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.SENT.value, sent_at=sa.func.now(), last_error="")
    )


async def retry_later(conn: AsyncConnection, mail_id: uuid.UUID, at: datetime, error: str) -> None:
    await conn.execute(
        mails.update()
        .where(mails.c.id == mail_id, mails.c.status == DeliveryStatus.PENDING.value)
        .values(next_attempt_at=at, last_error=error[:1000])
    )


async def give_up(conn: AsyncConnection, mail_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        mails.update()
        .where(mails.c.id == mail_id, mails.c.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.FAILED.value, last_error=error[:1000])
    )


async def next_due(conn: AsyncConnection) -> datetime | None:
    """When the earliest pending mail is due (the sender sleeps until then at most)."""
    statement = sa.select(sa.func.min(mails.c.next_attempt_at)).where(mails.c.status == DeliveryStatus.PENDING.value)
    value: datetime | None = (await conn.execute(statement)).scalar()
    return value


async def delete_settled(conn: AsyncConnection, older_than: timedelta, limit: int) -> int:
    """Delete up to `limit` sent or failed mails created more than `older_than` ago; how many."""
    old = (
        sa.select(mails.c.id)
        .where(mails.c.status != DeliveryStatus.PENDING.value, mails.c.created_at < sa.func.now() - older_than)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await conn.execute(mails.delete().where(mails.c.id.in_(old)))
    return int(result.rowcount)


async def get_mail(conn: AsyncConnection, mail_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(mails).where(mails.c.id == mail_id))).mappings().first()
    return dict(row) if row is not None else None


async def list_mails(
    conn: AsyncConnection,
    *,
    order_id: str,
    status: DeliveryStatus | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[dict[str, Any]]:
    """Newest first, by (created_at, id) keyset."""
    statement = sa.select(mails).order_by(mails.c.created_at.desc(), mails.c.id.desc()).limit(limit)
    if order_id:
        statement = statement.where(mails.c.order_id == order_id)
    if status is not None:
        statement = statement.where(mails.c.status == status.value)
    if after is not None:
        at, mail_id = after
        statement = statement.where(
            sa.tuple_(mails.c.created_at, mails.c.id) < sa.tuple_(sa.literal(at), sa.literal(mail_id))
        )
    return [dict(row) for row in (await conn.execute(statement)).mappings()]
