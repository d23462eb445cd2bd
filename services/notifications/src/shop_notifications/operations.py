"""The notifications service's use cases: queueing a mail for an event (in the consumer's
transaction), sending what is due, and the reads of the API.

Delivery is at least once. A mail is claimed (its attempt counted, its next attempt a lease ahead)
in one transaction, sent with no transaction open, and its outcome recorded in another. A process
that dies after the SMTP server accepted a mail and before recording it sends it again once the
lease has passed; the mail keeps its Message-ID, so the reader's client shows it once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shop.notifications.v1 import notifications_pb2 as pb
from shop_notifications import mapping, store, workers
from shop_notifications.domain import Notice, RetryPolicy, message_id
from shop_notifications.metrics import ATTEMPTS
from shop_notifications.smtp import Mailer, PermanentFailure
from shop_notifications.templates import Templates
from shopkit import pagination
from shopkit.consumer import after_commit
from shopkit.db import Database
from shopkit.errors import NotFound, Violations
from shopkit.personal_data import is_erased_email

log = logging.getLogger("shop_notifications.operations")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Notifications:
    def __init__(
        self,
        db: Database,
        templates: Templates,
        mailer: Mailer,
        retry: RetryPolicy,
        *,
        lease: timedelta,
        concurrency: int,
        clock: Clock = utc_now,
    ):
        self.db = db
        self.templates = templates
        self.mailer = mailer
        self.retry = retry
        self.lease = lease
        self.concurrency = concurrency
        self.clock = clock
        self.wakeup = asyncio.Event()

    # ------------------------------------------------------------------ from events

    async def queue(self, conn: AsyncConnection, notice: Notice, *, event_id: str) -> bool:
        """Render and queue the mail of one event in the caller's transaction (the inbox's). False:
        the event's mail was queued before."""
        if is_erased_email(notice.recipient):
            return False  # the customer was erased: nobody reads that address (see personal_data)
        mail_id = uuid.uuid4()
        queued = await store.add_mail(
            conn,
            mail_id=mail_id,
            kind=notice.kind,
            event_id=event_id,
            order_id=notice.order.order_id,
            recipient=notice.recipient,
            rendered=self.templates.render(notice),
            message_id=message_id(mail_id, self.mailer.sender),
            customer_id=notice.order.customer_id,
        )
        if queued:
            after_commit(self.wakeup.set)  # the sender goes at once, not at its next poll
        return queued

    # ------------------------------------------------------------------ sending

    async def send_due(self) -> int:
        """One round: claim what is due (up to the concurrency), send it side by side, record each
        outcome. The number of mails attempted."""
        async with self.db.transaction() as conn:
            claimed = await store.claim_due(conn, self.concurrency, self.lease)
        if claimed:
            await asyncio.gather(*(self._attempt(mail) for mail in claimed))
        return len(claimed)

    async def _attempt(self, mail: store.Outgoing) -> None:
        try:
            await self.mailer.send(mail)
        except PermanentFailure as exc:
            await self._record_failure(mail, f"refused: {exc}", permanent=True)
            return
        except Exception as exc:  # anything else may pass: unreachable server, timeouts, 4xx
            await self._record_failure(mail, f"{type(exc).__name__}: {exc}", permanent=False)
            return
        async with self.db.transaction() as conn:
            await store.mark_sent(conn, mail.mail_id)
        ATTEMPTS.labels(mail.kind, "sent").inc()
        log.info("mail sent", extra={"mail_id": str(mail.mail_id), "kind": mail.kind, "attempts": mail.attempts})

    async def _record_failure(self, mail: store.Outgoing, error: str, *, permanent: bool) -> None:
        at = None if permanent else self.retry.next_attempt(mail.attempts, self.clock())
        async with self.db.transaction() as conn:
            if at is None:
                await store.give_up(conn, mail.mail_id, error)
            else:
                await store.retry_later(conn, mail.mail_id, at, error)
        ATTEMPTS.labels(mail.kind, "failed" if at is None else "retry").inc()
        extra = {"mail_id": str(mail.mail_id), "kind": mail.kind, "attempts": mail.attempts, "error": error}
        if at is None:
            log.error("mail given up", extra=extra)
        else:
            log.warning("mail not sent; trying again at %s", at.isoformat(), extra=extra)

    async def run_sender(self, poll: float) -> None:
        """The sender worker (see `workers.run_sender`)."""
        await workers.run_sender(
            self.db, self.send_due, store.next_due, self.wakeup, poll=poll, clock=self.clock, what="mail sender"
        )

    async def sweep(self, retention: timedelta) -> int:
        """Delete the settled mails past `retention`, a batch per transaction; how many."""
        return await workers.sweep(self.db, store.delete_settled, retention)

    async def run_retention(self, retention: timedelta) -> None:
        await workers.run_retention(self.db, store.delete_settled, retention, what="mails")

    # ------------------------------------------------------------------ reads

    async def get(self, notification_id: str) -> pb.Notification:
        violations = Violations()
        mail_id = _uuid(notification_id, "notification_id", violations)
        violations.raise_if_any()
        assert mail_id is not None
        async with self.db.connect() as conn:
            row = await store.get_mail(conn, mail_id)
        if row is None:
            raise NotFound("notification", notification_id)
        return mapping.notification(row, bodies=True)

    async def list(self, request: pb.ListNotificationsRequest) -> tuple[list[pb.Notification], str]:
        """Newest first, filtered by order and/or status; (page, next page token)."""
        order_id, status, page = request.order_id, request.status, request.page
        violations = Violations()
        violations.check(len(order_id) <= 200, "order_id", "at most 200 characters")
        violations.check(
            status == pb.DELIVERY_STATUS_UNSPECIFIED or status in mapping.STATUS_FROM_PB, "status", "unknown status"
        )
        size = pagination.page_size(page.page_size)
        after = workers.decode_cursor(page.page_token, violations)
        violations.raise_if_any()
        wanted = mapping.STATUS_FROM_PB.get(status)
        async with self.db.connect() as conn:
            rows = await store.list_mails(conn, order_id=order_id, status=wanted, after=after, limit=size + 1)
        rows, token = workers.page(list(rows), size)
        return [mapping.notification(row, bodies=False) for row in rows], token


def _uuid(value: str, field: str, violations: Violations) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        violations.add(field, "must be a UUID")
        return None
