"""The notifications service's use cases: queueing a mail for an event (in the consumer's
transaction), sending what is due, and the reads of the API.

Delivery is at least once. A mail is claimed (its attempt counted, its next attempt a lease ahead)
in one transaction, sent with no transaction open, and its outcome recorded in another. A process
that dies after the SMTP server accepted a mail and before recording it sends it again once the
lease has passed; the mail keeps its Message-ID, so the reader's client shows it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shop.notifications.v1 import notifications_pb2 as pb
from shop_notifications import mapping, store
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
        """The sender worker: rounds while there is work; between them, sleep until woken by a new
        mail, until the next retry is due, or `poll` seconds at most."""
        while True:
            try:
                while await self.send_due():
                    pass
                async with self.db.connect() as conn:
                    due = await store.next_due(conn)
            except Exception:
                log.warning("sender round failed; trying again", exc_info=True)
                due = None
            pause = poll if due is None else max(0.0, min(poll, (due - self.clock()).total_seconds()))
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=pause)

    async def sweep(self, retention: timedelta, batch: int = 5000) -> int:
        """Delete the settled mails past `retention`, a batch per transaction; how many."""
        deleted = 0
        while True:
            async with self.db.transaction() as conn:
                removed = await store.delete_settled(conn, retention, batch)
            deleted += removed
            if removed < batch:
                return deleted

    async def run_retention(self, retention: timedelta, every: float = 3600.0) -> None:
        """The retention worker: the table holds what support may ask about, not every mail ever sent."""
        while True:
            try:
                if removed := await self.sweep(retention):
                    log.info("old mails deleted", extra={"deleted": removed})
            except Exception:
                log.warning("mail retention round failed; trying again later", exc_info=True)
            await asyncio.sleep(every)

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
        cursor = pagination.decode_token(page.page_token)
        after = None
        if cursor is not None:
            at, mail_id = cursor.get("t"), cursor.get("id")
            try:
                if not isinstance(at, str) or not isinstance(mail_id, str):
                    raise ValueError("not a cursor")
                after = (datetime.fromisoformat(at), uuid.UUID(mail_id))
                if after[0].tzinfo is None:
                    raise ValueError("a cursor's time has its offset")
            except ValueError:
                violations.add("page.page_token", "not a token this method gave")
        violations.raise_if_any()
        wanted = mapping.STATUS_FROM_PB.get(status)
        async with self.db.connect() as conn:
            rows = await store.list_mails(conn, order_id=order_id, status=wanted, after=after, limit=size + 1)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            token = pagination.encode_token({"t": last["created_at"].isoformat(), "id": str(last["id"])})
        return [mapping.notification(row, bodies=False) for row in rows], token


def _uuid(value: str, field: str, violations: Violations) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        violations.add(field, "must be a UUID")
        return None
