"""Outbound webhooks' use cases: subscriptions (admin), queueing deliveries from the event stream
(in the consumers' inbox transactions), sending what is due, the delivery log, replays, retention.

Delivery is at least once, as for mails (see `operations`): a delivery is claimed in one
transaction, POSTed with no transaction open, and its outcome logged in another; a sender that dies
in between sends again after WEBHOOK_LEASE_SECONDS. Receivers deduplicate by Shop-Event-Id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop_notifications import webhook_mapping as mapping
from shop_notifications import webhook_store as store
from shop_notifications import workers
from shop_notifications.metrics import WEBHOOK_ATTEMPTS
from shop_notifications.webhook_domain import (
    EVENT_TYPES,
    MAX_EVENT_TYPES,
    SIGNATURE_HEADER,
    Backoff,
    TargetRefused,
    WebhookStatus,
    check_url,
    new_secret,
    payload,
    signature,
)
from shopkit import pagination
from shopkit.consumer import after_commit, message_id
from shopkit.db import Database
from shopkit.errors import NotFound, Violations

log = logging.getLogger("shop_notifications.webhooks")

RESPONSE_KEPT = 1024  # bytes of an answer the log keeps
MAX_DESCRIPTION = 500


class Webhooks:
    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        backoff: Backoff,
        *,
        allow_private: bool,
        lease: timedelta,
        concurrency: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.db = db
        self.client = client
        self.backoff = backoff
        self.allow_private = allow_private
        self.lease = lease
        self.concurrency = concurrency
        self.clock = clock
        self.wakeup = asyncio.Event()

    # ------------------------------------------------------------------ subscriptions

    async def create(self, request: pb.CreateWebhookRequest) -> pb.Webhook:
        violations = Violations()
        self._check_url(violations, request.url)
        self._check_types(violations, list(request.event_types))
        violations.check(len(request.description) <= MAX_DESCRIPTION, "description", "at most 500 characters")
        violations.check(len(request.request_id) <= 128, "request_id", "at most 128 characters")
        violations.raise_if_any()
        values = {
            "id": uuid.uuid4(),
            "url": request.url,
            "event_types": sorted(set(request.event_types)),
            "secret": new_secret(),
            "description": request.description,
            "request_id": request.request_id or None,
        }
        async with self.db.transaction() as conn:
            row = await store.add_webhook(conn, values)
        return mapping.webhook(row, secret=True)

    async def get(self, webhook_id: str) -> pb.Webhook:
        key = _id(webhook_id, "webhook_id")
        async with self.db.connect() as conn:
            row = await store.get_webhook(conn, key)
        if row is None:
            raise NotFound("webhook", webhook_id)
        return mapping.webhook(row, secret=False)

    async def listing(self, page: common_pb2.PageRequest) -> tuple[list[pb.Webhook], str]:
        violations = Violations()
        size = pagination.page_size(page.page_size)
        after = workers.decode_cursor(page.page_token, violations)
        violations.raise_if_any()
        async with self.db.connect() as conn:
            rows = await store.list_webhooks(conn, after, size + 1)
        rows, token = workers.page(rows, size)
        return [mapping.webhook(row, secret=False) for row in rows], token

    async def update(self, request: pb.UpdateWebhookRequest) -> pb.Webhook:
        key = _id(request.webhook_id, "webhook_id")
        violations = Violations()
        values: dict[str, object] = {}
        if request.HasField("url"):
            self._check_url(violations, request.url)
            values["url"] = request.url
        if request.update_event_types:
            self._check_types(violations, list(request.event_types))
            values["event_types"] = sorted(set(request.event_types))
        if request.HasField("active"):
            values["active"] = request.active
        if request.HasField("description"):
            violations.check(len(request.description) <= MAX_DESCRIPTION, "description", "at most 500 characters")
            values["description"] = request.description
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            row = await (store.update_webhook(conn, key, values) if values else store.get_webhook(conn, key))
        if row is None:
            raise NotFound("webhook", request.webhook_id)
        if values.get("active"):
            self.wakeup.set()  # its waiting deliveries go now
        return mapping.webhook(row, secret=False)

    async def rotate_secret(self, webhook_id: str) -> pb.Webhook:
        key = _id(webhook_id, "webhook_id")
        async with self.db.transaction() as conn:
            row = await store.update_webhook(conn, key, {"secret": new_secret()})
        if row is None:
            raise NotFound("webhook", webhook_id)
        return mapping.webhook(row, secret=True)

    def _check_url(self, violations: Violations, url: str) -> None:
        problem = "is required" if not url else check_url(url, allow_private=self.allow_private)
        violations.check(not problem, "url", problem)

    @staticmethod
    def _check_types(violations: Violations, types: list[str]) -> None:
        violations.check(
            1 <= len(types) <= MAX_EVENT_TYPES, "event_types", f"must hold 1 to {MAX_EVENT_TYPES} event types"
        )
        for index, name in enumerate(types):
            violations.check(name in EVENT_TYPES, f"event_types[{index}]", "not an event type webhooks carry")

    # ------------------------------------------------------------------ from events

    async def handle(self, conn: AsyncConnection, msg: Msg) -> None:
        await self.handle_batch(conn, [msg])

    async def handle_batch(self, conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
        """The consumers' handler (in their inbox transaction): one delivery per active webhook of
        each event's type. A redelivered event finds its deliveries and adds none."""
        subscribed = await store.subscriptions(conn)
        added = 0
        for msg in msgs:
            targets = subscribed.get(msg.subject)
            if not targets or msg.subject not in EVENT_TYPES:
                continue
            event_id = message_id(msg)
            body = payload(msg.subject, event_id, msg.data)
            added += await store.add_deliveries(conn, targets, event_id=event_id, event_type=msg.subject, payload=body)
        if added:
            after_commit(self.wakeup.set)

    # ------------------------------------------------------------------ sending

    async def send_due(self) -> int:
        async with self.db.transaction() as conn:
            claimed = await store.claim_due(conn, self.concurrency, self.lease)
        if claimed:
            await asyncio.gather(*(self._attempt(delivery) for delivery in claimed))
        return len(claimed)

    async def _attempt(self, delivery: store.Outgoing) -> None:
        body = delivery.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "shop-webhooks/1",
            "Shop-Event-Id": delivery.event_id,
            "Shop-Event-Type": delivery.event_type,
            SIGNATURE_HEADER: signature(delivery.secret, int(time.time()), body),
        }
        started = time.monotonic()
        status, answer, error = 0, "", ""
        try:
            problem = check_url(delivery.url, allow_private=self.allow_private)
            if problem:
                raise TargetRefused(problem)
            # The client dials only public addresses and follows no redirect (`webhook_transport`).
            response = await self.client.post(delivery.url, content=body, headers=headers)
            status, answer = response.status_code, response.content[:RESPONSE_KEPT].decode("utf-8", "replace")
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except TargetRefused as exc:
            error = f"refused target: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        latency = int((time.monotonic() - started) * 1000)
        outcome, at = WebhookStatus.DELIVERED, None
        if error:
            at = self.backoff.next_attempt(delivery.attempts, self.clock())
            outcome = WebhookStatus.PENDING if at is not None else WebhookStatus.DEAD
        async with self.db.transaction() as conn:
            await store.record_attempt(
                conn,
                delivery,
                status_code=status,
                latency_ms=latency,
                error=error,
                response_body=answer,
                outcome=outcome,
                next_attempt_at=at,
            )
        WEBHOOK_ATTEMPTS.labels(delivery.event_type, outcome.value).inc()
        extra = {"delivery_id": str(delivery.delivery_id), "attempts": delivery.attempts, "error": error}
        if outcome is WebhookStatus.DEAD:
            log.error("webhook delivery dead", extra=extra)
        elif error:
            log.warning("webhook delivery failed; trying again", extra=extra)

    async def run_sender(self, poll: float) -> None:
        """The sender worker, as the mail sender's (see `workers.run_sender`)."""
        await workers.run_sender(
            self.db, self.send_due, store.next_due, self.wakeup, poll=poll, clock=self.clock, what="webhook sender"
        )

    async def run_retention(self, retention: timedelta) -> None:
        """Delivered and dead deliveries past `retention` (with their log) are deleted."""
        await workers.run_retention(self.db, store.delete_settled, retention, what="webhook deliveries")

    # ------------------------------------------------------------------ the delivery log, replays

    async def deliveries(self, request: pb.ListWebhookDeliveriesRequest) -> tuple[list[pb.WebhookDelivery], str]:
        key = _id(request.webhook_id, "webhook_id")
        violations = Violations()
        violations.check(
            request.status == pb.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED or request.status in mapping.STATUS_FROM_PB,
            "status",
            "unknown status",
        )
        size, after = (
            pagination.page_size(request.page.page_size),
            workers.decode_cursor(request.page.page_token, violations),
        )
        violations.raise_if_any()
        async with self.db.connect() as conn:
            if await store.get_webhook(conn, key) is None:
                raise NotFound("webhook", request.webhook_id)
            wanted = mapping.STATUS_FROM_PB.get(request.status)
            rows, attempts = await store.list_deliveries(conn, key, status=wanted, after=after, limit=size + 1)
        rows, token = workers.page(rows, size)
        return [mapping.delivery(row, attempts[row["id"]]) for row in rows], token

    async def replay(self, webhook_id: str, delivery_id: str) -> int:
        key = _id(webhook_id, "webhook_id")
        one = _id(delivery_id, "delivery_id") if delivery_id else None
        async with self.db.transaction() as conn:
            if await store.get_webhook(conn, key) is None:
                raise NotFound("webhook", webhook_id)
            if one is not None:
                found = await store.get_delivery(conn, one)
                if found is None or found["webhook_id"] != key:
                    raise NotFound("webhook delivery", delivery_id)
            replayed = await store.replay(conn, key, one)
        if replayed:
            self.wakeup.set()
        return replayed


def _id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        violations = Violations()
        violations.add(field, "must be a UUID")
        violations.raise_if_any()
        raise
