"""Durable JetStream pull consumers whose handlers apply each message once.

The handler runs inside a transaction that also records the message id in the inbox; a
redelivered message finds its id there and changes nothing. A message that keeps failing is
copied to the dead-letter stream with the error and acknowledged, so it stops blocking others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shopkit import events, metrics, tracing
from shopkit.db import Database

log = logging.getLogger("shopkit.consumer")

Handler = Callable[[AsyncConnection, Msg], Awaitable[None]]


def message_id(msg: Msg) -> str:
    """The publisher's id (Nats-Msg-Id = outbox id), or the stream sequence for foreign publishers."""
    headers = msg.headers or {}
    return headers.get("Nats-Msg-Id") or f"{msg.metadata.stream}:{msg.metadata.sequence.stream}"


class EventConsumer:
    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        inbox: sa.Table,
        *,
        service: str,
        name: str,
        source_service: str,
        subjects: list[str],
        handler: Handler,
        max_deliver: int = 5,
        batch: int = 50,
        ack_wait: float = 30.0,
    ):
        self.db = db
        self.js = js
        self.inbox = inbox
        self.service = service
        self.durable = f"{service}-{name}"
        self.stream = events.stream_name(source_service)
        self.source_service = source_service
        self.subjects = subjects
        self.handler = handler
        self.max_deliver = max_deliver
        self.batch = batch
        self.ack_wait = ack_wait
        self._tracer = tracing.tracer("shopkit.consumer")

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        await events.ensure_stream(self.js, events.stream_config(self.source_service))
        await events.ensure_stream(self.js, events.dlq_config())
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            # One more than ours: the last delivery is the one that moves the message to the DLQ.
            max_deliver=self.max_deliver + 1,
            filter_subjects=self.subjects if len(self.subjects) > 1 else None,
            filter_subject=self.subjects[0] if len(self.subjects) == 1 else None,
        )
        return await self.js.pull_subscribe(self.subjects[0], durable=self.durable, stream=self.stream, config=config)

    async def run(self) -> None:
        sub = await self.subscribe()
        try:
            while True:
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                for msg in msgs:
                    await self.handle(msg)
        finally:
            # A fetch cancelled mid-delivery leaves an unfinished task in the subscription's queue,
            # and nc.drain() would wait for it until its timeout: unsubscribe first.
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def handle(self, msg: Msg) -> str:
        """Apply one message; returns the outcome (applied, duplicate, retried, dead_lettered)."""
        token = otel_context.attach(tracing.extract_context(msg.headers))
        try:
            with self._tracer.start_as_current_span(
                f"{msg.subject} process",
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": msg.subject,
                    "messaging.consumer.group.name": self.durable,
                },
            ):
                outcome = await self._apply(msg)
        finally:
            otel_context.detach(token)
        metrics.EVENTS_CONSUMED.labels(self.durable, msg.subject, outcome).inc()
        return outcome

    async def apply_once(self, msg: Msg) -> bool:
        """Run the handler and record the message id in one transaction. False: already applied."""
        async with self.db.transaction() as conn:
            inserted = await conn.execute(
                insert(self.inbox)
                .values(consumer=self.durable, message_id=message_id(msg))
                .on_conflict_do_nothing()
                .returning(self.inbox.c.message_id)
            )
            if inserted.first() is None:
                return False
            await self.handler(conn, msg)
            return True

    async def _apply(self, msg: Msg) -> str:
        try:
            fresh = await self.apply_once(msg)
        except Exception as exc:
            delivered = msg.metadata.num_delivered
            if delivered >= self.max_deliver:
                await self._dead_letter(msg, exc)
                return "dead_lettered"
            log.warning(
                "event handler failed; will retry",
                exc_info=True,
                extra={"subject": msg.subject, "message_id": message_id(msg), "delivered": delivered},
            )
            await msg.nak(delay=min(30.0, 0.5 * 2**delivered))
            return "retried"
        # An ack lost here (crash, network) means a redelivery, which the inbox turns into a no-op.
        await msg.ack()
        return "applied" if fresh else "duplicate"

    async def _dead_letter(self, msg: Msg, exc: Exception) -> None:
        headers = dict(msg.headers or {})
        headers.pop("Nats-Msg-Id", None)
        headers.update(
            {
                "Shop-Original-Subject": msg.subject,
                "Shop-Original-Message-Id": message_id(msg),
                "Shop-Consumer": self.durable,
                "Shop-Error": f"{type(exc).__name__}: {exc}"[:500],
            }
        )
        await self.js.publish(f"shop.dlq.{self.service}.{self.durable}", msg.data, headers=headers)
        await msg.ack()
        log.error(
            "event moved to the dead-letter stream",
            extra={"subject": msg.subject, "message_id": message_id(msg), "consumer": self.durable},
        )


async def sweep_inbox(db: Database, inbox: sa.Table, retention: timedelta, batch: int = 5000) -> int:
    """Delete inbox rows older than `retention` (their messages can no longer be redelivered)."""
    deleted = 0
    while True:
        async with db.transaction() as conn:
            old = (
                sa.select(inbox.c.consumer, inbox.c.message_id)
                .where(inbox.c.received_at < sa.func.now() - retention)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            result = await conn.execute(inbox.delete().where(sa.tuple_(inbox.c.consumer, inbox.c.message_id).in_(old)))
        deleted += result.rowcount
        if result.rowcount < batch:
            return deleted


async def run_inbox_sweeper(db: Database, inbox: sa.Table, retention: timedelta, every: float = 3600.0) -> None:
    while True:
        removed = await sweep_inbox(db, inbox, retention)
        if removed:
            log.info("inbox swept", extra={"deleted": removed})
        await asyncio.sleep(every)
