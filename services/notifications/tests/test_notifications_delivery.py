"""Delivery: an SMTP server that is down is waited out with growing pauses and the mail goes once
it is back; mails share a kept SMTP session, and a kept session the server dropped is replaced; a
permanent refusal gives up at once, a bounded number of failures gives up too; an event delivered
again makes no second mail; the schema is the one the tables declare."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from shop_notifications import events, store
from shop_notifications.domain import MailKind, Rendered, RetryPolicy, message_id
from shop_notifications.main import mailer
from shop_notifications.metrics import ATTEMPTS
from shop_notifications.operations import Notifications
from shop_notifications.orders import Orders
from shop_notifications.templates import Templates
from shopkit.consumer import EventConsumer
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Stack


async def until(check: Any, within: float = 15.0) -> None:
    await eventually(check, within=within)


async def test_an_smtp_outage_is_retried_until_the_server_is_back(stack: Stack) -> None:
    await stack.catcher.stop()
    try:
        order = await stack.place()

        async def failed_twice() -> bool:
            rows = await stack.rows(order.order_id)
            return bool(rows) and rows[0].attempts >= 2

        await until(failed_twice)
        [row] = await stack.rows(order.order_id)
        assert row.status == "pending"
        assert "Connect" in row.last_error or "refused" in row.last_error.lower()
        assert not stack.catcher.mails(order.order_id)
    finally:
        await stack.catcher.start()
    [mail] = await stack.mails_of(order.order_id, "order_confirmation")
    [row] = await stack.recorded(order.order_id)
    assert (row.status, row.last_error) == ("sent", "")
    assert mail["Message-ID"] == row.message_id
    await asyncio.sleep(0.5)
    assert len(stack.catcher.mails(order.order_id)) == 1


async def test_mails_in_a_row_share_one_smtp_session(stack: Stack) -> None:
    async def mailed() -> None:
        # One at a time (mails due together go out side by side, each on a session of its own), and
        # until the sender recorded it: the session is kept before the record.
        order = await stack.place()
        await stack.mails_of(order.order_id, "order_confirmation")
        await stack.recorded(order.order_id)

    await mailed()
    sessions = stack.catcher.sessions
    for _ in range(3):
        await mailed()
    assert stack.catcher.sessions == sessions  # the kept session took them all


async def test_a_kept_session_the_server_dropped_is_replaced_and_the_mail_goes_once(stack: Stack) -> None:
    first = await stack.place()
    await stack.mails_of(first.order_id, "order_confirmation")
    for session in stack.catcher.open_sessions:  # the server ends the idle session (its timeout, a restart)
        assert session.transport is not None
        session.transport.close()
    order = await stack.place()
    [mail] = await stack.mails_of(order.order_id, "order_confirmation")
    [row] = await stack.recorded(order.order_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert mail["Message-ID"] == row.message_id


async def test_a_refused_recipient_is_given_up_at_once(stack: Stack) -> None:
    stack.catcher.refuse = True
    try:
        order = await stack.place()

        async def given_up() -> bool:
            rows = await stack.rows(order.order_id)
            return bool(rows) and rows[0].status == "failed"

        await until(given_up)
    finally:
        stack.catcher.refuse = False
    [row] = await stack.rows(order.order_id)
    assert row.attempts == 1
    assert "550" in row.last_error
    assert ATTEMPTS.labels("order_confirmation", "failed")._value.get() >= 1


def test_retries_back_off_and_stop_at_the_bound() -> None:
    policy = RetryPolicy(4, timedelta(seconds=5), timedelta(seconds=12))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    pauses = [policy.next_attempt(n, now) for n in (1, 2, 3, 4)]
    assert [(p - now).total_seconds() if p else None for p in pauses] == [5, 10, 12, None]


async def test_a_redelivered_event_makes_one_mail(stack: Stack) -> None:
    order = await stack.place()
    await stack.mails_of(order.order_id, "order_confirmation")
    msg = await stack.stored_event(events.CONFIRMED, order.order_id)
    settings = stack.settings
    orders = Orders(settings, settings.order_addr)
    notifications = Notifications(
        stack.runtime.db,
        Templates(settings.storefront_url),
        mailer(settings),
        RetryPolicy(1, timedelta(seconds=1), timedelta(seconds=1)),
        lease=timedelta(seconds=60),
        concurrency=1,
    )
    handler = events.OrderEvents(orders, notifications, approvers={}, approvals_to="desk@shop.test", stale_after=None)

    def consumer(name: str) -> EventConsumer:
        return EventConsumer(
            stack.runtime.db,
            stack.runtime.js,
            store.inbox,
            service="notifications",
            name=name,
            source_service="order",
            subjects=events.SUBJECTS,
            handler=handler.handle,
            prefetch=handler.prefetch,
        )

    try:
        # The same durable: its inbox knows the message.
        assert await consumer(events.ORDER_CONSUMER).apply_once(msg) is False
        # Another consumer (a new inbox key) applies it, and the mail's event id keeps it one mail.
        assert await consumer("replay").apply_once(msg) is True
    finally:
        await orders.close()
    assert len(await stack.rows(order.order_id)) == 1
    await asyncio.sleep(0.5)
    assert len(stack.catcher.mails(order.order_id)) == 1


async def test_a_pickup_mails_no_shipment(stack: Stack) -> None:
    order = await stack.place(pickup_store="store-berlin")
    [confirmation] = await stack.mails_of(order.order_id, "order_confirmation")
    assert "ready for pickup at store store-berlin" in str(confirmation)
    await stack.fulfil(order, carrier="", tracking="-")
    await asyncio.sleep(1.0)
    assert not stack.catcher.mails(order.order_id, "shipment")


async def test_settled_mails_past_the_retention_are_deleted(stack: Stack) -> None:
    old, recent = await stack.place(), await stack.place()
    for order in (old, recent):
        await stack.mails_of(order.order_id, "order_confirmation")
        await stack.recorded(order.order_id)
    async with stack.runtime.db.transaction() as conn:
        await conn.execute(
            sa.text("UPDATE mails SET created_at = now() - interval '91 days' WHERE order_id = :o"),
            {"o": old.order_id},
        )
        deleted = await store.delete_settled(conn, timedelta(days=90), 1000)
    assert deleted >= 1
    assert await stack.rows(old.order_id) == []
    assert len(await stack.rows(recent.order_id)) == 1


async def test_migrations_match_the_tables(stack: Stack) -> None:
    engine = create_async_engine(stack.settings.database_url)

    def differences(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, store.metadata))

    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == []


async def test_a_sender_that_dies_after_sending_resends_with_the_same_message_id(stack: Stack) -> None:
    """At least once: the claim moved the next attempt a lease ahead; the dying sender sent the mail and
    never recorded it, so once the lease passed the service sends it again, under the same Message-ID."""
    order_id = f"crash-{uuid.uuid4()}"
    mail_id = uuid.uuid4()
    rendered = Rendered("Your order SO-CRASH is confirmed", "text", "<p>html</p>")
    async with stack.runtime.db.transaction() as conn:
        await store.add_mail(
            conn,
            mail_id=mail_id,
            kind=MailKind.ORDER_CONFIRMATION,
            event_id=f"event-{mail_id}",
            order_id=order_id,
            recipient="crash@example.com",
            rendered=rendered,
            message_id=message_id(mail_id, stack.settings.mail_from),
        )
        claimed = await store.claim_due(conn, 1000, timedelta(seconds=1))
    [mine] = [mail for mail in claimed if mail.mail_id == mail_id]
    await mailer(stack.settings).send(mine)  # ... and the process dies before recording it
    await stack.mails_of(order_id, "order_confirmation", count=2)
    first, second = stack.catcher.mails(order_id)
    assert first["Message-ID"] == second["Message-ID"] == message_id(mail_id, stack.settings.mail_from)
    [row] = await stack.recorded(order_id)
    assert (row.status, row.attempts) == ("sent", 2)
