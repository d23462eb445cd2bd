"""Transactional outbox and its relay to JetStream; the inbox that makes consumers idempotent.

A state change and its event are written in one transaction (`add_event`). The relay publishes
unsent rows with `Nats-Msg-Id` = the outbox id, so a relay that dies after publishing and before
marking a row sent publishes it again and JetStream drops the duplicate; consumers also record
every message id in their inbox inside the transaction of their effect.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from nats.js import JetStreamContext
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from shopkit import metrics, tracing
from shopkit.db import Database
from shopkit.outbox_driver import Staged, event_rows
from shopkit.sqldriver import DriverQuery, Row
from shopkit.waits import wait_event

log = logging.getLogger("shopkit.outbox")

IDLE_POLL_FACTOR = 5  # an idle relay still polls once every 5 poll intervals (1 s by default)
# JetStream's acks have no deadline of their own (nats-py's publish_async futures wait forever): a
# message or ack lost with a NATS restart would hold the batch, and its transaction, for good.
ACK_TIMEOUT_SECONDS = 15.0


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Index("outbox_unpublished", "seq", postgresql_where=sa.text("published_at IS NULL")),
    )


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def create_messaging_tables(op: Any) -> None:
    """For a service's first alembic migration: create its outbox and inbox tables."""
    metadata = sa.MetaData()
    tables = [outbox_table(metadata), inbox_table(metadata)]
    metadata.create_all(op.get_bind(), tables=tables)


async def add_event(
    conn: AsyncConnection, outbox: sa.Table, subject: str, message: Message, aggregate_id: str = ""
) -> uuid.UUID:
    """Stage an event in the caller's transaction. Fills `meta` (event id, time) when the message has it."""
    (event_id,) = await add_events(conn, outbox, [(subject, message, aggregate_id)])
    return event_id


async def add_events(conn: AsyncConnection, outbox: sa.Table, staged: Staged) -> list[uuid.UUID]:
    """Stage many events (subject, message, aggregate id) with one INSERT in the caller's transaction."""
    if not staged:
        return []
    rows = event_rows(staged)
    await conn.execute(
        outbox.insert(),
        [
            {"id": event_id, "subject": subject, "payload": payload, "headers": rows.headers}
            for event_id, subject, payload in zip(rows.ids, rows.subjects, rows.payloads, strict=True)
        ],
    )
    return rows.ids


class OutboxRelay:
    """Publishes unsent outbox rows in order. Several replicas may run it: rows are claimed with
    SKIP LOCKED, so each row is in flight on one relay at a time."""

    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        outbox: sa.Table,
        *,
        batch_size: int = 200,
        poll_interval: float = 0.2,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
    ):
        self.db = db
        self.js = js
        self.outbox = outbox
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self._wake = asyncio.Event()
        self._tracer = tracing.tracer("shopkit.outbox")
        # Both statements compiled once and run on the driver: an idle relay polls several times a
        # second in every service, and a busy one should spend its time publishing.
        self._claim = DriverQuery(
            sa.select(outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers, outbox.c.created_at)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(sa.bindparam("batch_size", type_=sa.Integer))
            .with_for_update(skip_locked=True)
        )
        self._mark_sent = DriverQuery(
            outbox.update()
            .where(outbox.c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
            .values(published_at=sa.bindparam("sent_at", type_=sa.DateTime(timezone=True)))
        )

    def wake(self) -> None:
        """Publish soon: called after a transaction that added events commits."""
        self._wake.set()

    async def run(self) -> None:
        idle = self.poll_interval
        while True:
            try:
                sent = await self.publish_batch()
            except Exception:
                log.exception("outbox relay round failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self.batch_size:
                # Writers wake the relay after their commit; the poll only catches rows nobody woke it
                # for, so an idle relay polls less and less often (up to IDLE_POLL_FACTOR times slower).
                idle = self.poll_interval if sent else min(idle * 2, self.poll_interval * IDLE_POLL_FACTOR)
                self._wake.clear()
                if await wait_event(self._wake, idle):
                    idle = self.poll_interval

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were sent."""
        async with self.db.driver_transaction() as conn:
            with tracing.untraced():  # a poll; each row found is traced by its publish span
                rows = await conn.fetch(self._claim, batch_size=self.batch_size)
            if not rows:
                return 0
            acks = [await self._publish(row) for row in rows]
            # Past the deadline the acks are cancelled (which frees nats-py's pending slots) and the
            # round fails: the rows stay unsent and go again, deduplicated by their Nats-Msg-Id.
            async with asyncio.timeout(self.ack_timeout):
                await asyncio.gather(*acks)
            now = datetime.now(UTC)
            await conn.execute(self._mark_sent, ids=[row["id"] for row in rows], sent_at=now)
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(row["subject"]).inc()
            metrics.OUTBOX_LAG.observe((now - row["created_at"]).total_seconds())
        return len(rows)

    async def _publish(self, row: Row) -> asyncio.Future[Any]:
        subject, event_id = row["subject"], str(row["id"])
        token = otel_context.attach(tracing.extract_context(row["headers"]))
        try:
            with self._tracer.start_as_current_span(
                f"{subject} publish",
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": subject,
                    "messaging.message.id": event_id,
                },
            ):
                headers = tracing.inject_headers({"Nats-Msg-Id": event_id})
                return await self.js.publish_async(subject, row["payload"], headers=headers)
        finally:
            otel_context.detach(token)
