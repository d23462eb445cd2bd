"""The order events that become mails, and what each needs.

One durable consumer (`notifications-order-events`) reads the order stream's subjects below. Each
event yields at most one `Notice`; events lack the e-mail address and the lines, so the order is
read from the order service (GetOrder) as it is when the event is handled: in the consumer's
prefetch, before the inbox transaction opens (a slow order service then holds no database
connection), and the handler only queues the mail in that transaction. Which event means what:

| subject | mail | to |
|---|---|---|
| `shop.order.confirmed` | order confirmation (at creation, or when a hold was lifted) | the order's e-mail |
| `shop.order.fulfilled` of a shipped order | shipment with carrier and tracking number | the order's e-mail |
| `shop.order.refunded` | refund with the amount | the order's e-mail |
| `shop.order.return_received` | return received (what arrived, where) | the order's e-mail |
| `shop.order.status_changed` to PENDING_APPROVAL | approval needed (first step) | APPROVERS[account] or APPROVALS_TO |
| `shop.order.approval_decided`: a step approved, order pending | approval needed (next step) | the same |

A pickup's fulfilment mails nothing: the customer is at the counter. Events older than
STALE_EVENT_HOURS mail nothing: a consumer created on a stream that already holds a week of orders
must not mail all of them.

Another mail is a subject in SUBJECTS, one builder in `_builders` that reads the event into a
Notice, and its templates (see `templates`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shop.order.v1 import events_pb2, order_pb2
from shop_notifications import mapping
from shop_notifications.domain import (
    ApprovalFacts,
    MailKind,
    Notice,
    RefundFacts,
    ReturnFacts,
    Shipment,
    approval_recipient,
)
from shop_notifications.operations import Notifications
from shop_notifications.orders import Orders
from shopkit.consumer import message_id

log = logging.getLogger("shop_notifications.events")

CONFIRMED = "shop.order.confirmed"
FULFILLED = "shop.order.fulfilled"
REFUNDED = "shop.order.refunded"
STATUS_CHANGED = "shop.order.status_changed"
RETURN_RECEIVED = "shop.order.return_received"
APPROVAL_DECIDED = "shop.order.approval_decided"
SUBJECTS = [CONFIRMED, FULFILLED, REFUNDED, STATUS_CHANGED, RETURN_RECEIVED, APPROVAL_DECIDED]
ORDER_CONSUMER = "order-events"  # durable "notifications-order-events" on SHOP_ORDER


class OrderEvents:
    """The consumer's two steps: `prefetch` reads the order and builds the message's Notice outside
    any transaction; `handle` queues it inside the kit's inbox transaction, so the mail row and the
    inbox row commit together."""

    def __init__(
        self,
        orders: Orders,
        notifications: Notifications,
        *,
        approvers: dict[str, str],
        approvals_to: str,
        stale_after: timedelta | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.orders = orders
        self.notifications = notifications
        self.approvers = approvers
        self.approvals_to = approvals_to
        self.stale_after = stale_after
        self.clock = clock
        self._builders: dict[str, Callable[[bytes], Awaitable[Notice | None]]] = {
            CONFIRMED: self._confirmed,
            FULFILLED: self._fulfilled,
            REFUNDED: self._refunded,
            STATUS_CHANGED: self._status_changed,
            RETURN_RECEIVED: self._return_received,
            APPROVAL_DECIDED: self._approval_decided,
        }

    async def prefetch(self, msg: Msg) -> Notice | None:
        """The mail an event asks for, built from the order as order holds it now; None: no mail.
        An unreachable order service raises, and the consumer keeps the event (`is_transient`)."""
        build = self._builders.get(msg.subject)
        return None if build is None else await build(msg.data)

    async def handle(self, conn: AsyncConnection, msg: Msg, notice: Notice | None) -> None:
        if notice is None:
            return
        if not notice.recipient:
            log.info("no address to mail", extra={"subject": msg.subject, "order_id": notice.order.order_id})
            return
        await self.notifications.queue(conn, notice, event_id=message_id(msg))

    def _stale(self, meta: common_pb2.EventMeta) -> bool:
        if self.stale_after is None or not meta.HasField("occurred_at"):
            return False
        stale = meta.occurred_at.ToDatetime(tzinfo=UTC) < self.clock() - self.stale_after
        if stale:
            log.info("event too old to mail about", extra={"event_id": meta.event_id})
        return stale

    async def _order(self, meta: common_pb2.EventMeta, order_id: str) -> order_pb2.Order | None:
        if not order_id or self._stale(meta):
            return None
        order = await self.orders.get(order_id)
        if order is None:
            log.warning("event of an order the order service does not know", extra={"order_id": order_id})
        return order

    async def _confirmed(self, data: bytes) -> Notice | None:
        event = events_pb2.OrderConfirmed.FromString(data)
        order = await self._order(event.meta, event.order_id)
        if order is None:
            return None
        return Notice(MailKind.ORDER_CONFIRMATION, order.email, mapping.order_facts(order))

    async def _fulfilled(self, data: bytes) -> Notice | None:
        event = events_pb2.OrderFulfilled.FromString(data)
        fulfilment = event.fulfilment
        order = await self._order(event.meta, event.order_id)
        if order is None or order.fulfilment_method.HasField("pickup"):
            return None  # a pickup: the customer is at the counter
        shipment = Shipment(
            fulfilment.carrier, fulfilment.tracking_number, mapping.named_quantities(order, fulfilment.lines)
        )
        return Notice(MailKind.SHIPMENT, order.email, mapping.order_facts(order), {"shipment": shipment})

    async def _refunded(self, data: bytes) -> Notice | None:
        event = events_pb2.OrderRefunded.FromString(data)
        order = await self._order(event.meta, event.order_id)
        if order is None:
            return None
        refund = event.refund
        facts = RefundFacts(
            mapping.money(refund.amount, order.currency),
            refund.reason,
            mapping.named_quantities(order, refund.lines),
        )
        return Notice(MailKind.REFUND, order.email, mapping.order_facts(order), {"refund": facts})

    async def _status_changed(self, data: bytes) -> Notice | None:
        event = events_pb2.OrderStatusChanged.FromString(data)
        entry = event.entry
        pending = order_pb2.ORDER_STATUS_PENDING_APPROVAL
        if entry.status != pending or entry.previous_status == pending:
            return None
        order = await self._order(event.meta, event.order_id)
        return None if order is None else self._approval_needed(order)

    async def _approval_decided(self, data: bytes) -> Notice | None:
        """A step approved and the order still pending: the chain moved on, its next step's approvers
        are asked. The order is read as it is now: if that step was decided meanwhile, its own event
        asks the one after."""
        event = events_pb2.OrderApprovalDecided.FromString(data)
        moved_on = event.step_state == order_pb2.APPROVAL_STEP_STATE_APPROVED
        if not moved_on or event.status != order_pb2.ORDER_STATUS_PENDING_APPROVAL:
            return None
        order = await self._order(event.meta, event.order_id)
        if order is None or order.status != order_pb2.ORDER_STATUS_PENDING_APPROVAL:
            return None
        if order.approval_progress.current_step != event.step + 1:
            return None
        return self._approval_needed(order)

    def _approval_needed(self, order: order_pb2.Order) -> Notice:
        limit = order.approval.limit
        approval = ApprovalFacts(
            buyer=order.customer_id or order.email,
            limit=mapping.money(limit, order.currency) if limit.currency else None,
            step=mapping.waiting_step(order),
        )
        recipient = approval_recipient(order.account_id, self.approvers, self.approvals_to)
        return Notice(MailKind.APPROVAL_NEEDED, recipient, mapping.order_facts(order), {"approval": approval})

    async def _return_received(self, data: bytes) -> Notice | None:
        event = events_pb2.ReturnReceived.FromString(data)
        returned = event.order_return
        order = await self._order(event.meta, returned.order_id)
        if order is None:
            return None
        facts = ReturnFacts(
            tuple((line.name or line.sku, line.requested_quantity) for line in returned.lines),
            returned.receiving_location_id or returned.store_id,
        )
        return Notice(
            MailKind.RETURN_RECEIVED, returned.email or order.email, mapping.order_facts(order), {"returned": facts}
        )
