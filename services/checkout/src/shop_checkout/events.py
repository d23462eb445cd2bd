"""Events checkout publishes (staged in the outbox with the transition that causes them) and the
handlers of the events it consumes: order outcomes and fraud review decisions.

Handlers only record the decision on the checkout (in the consumer's inbox transaction); a held
checkout that can go on becomes RUNNING or COMPENSATING without a lease, and the saga engine's
recovery picks it up and makes the calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from google.protobuf.message import Message
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.checkout.v1 import events_pb2
from shop.fraud.v1 import events_pb2 as fraud_events
from shop.fraud.v1 import fraud_pb2
from shop.order.v1 import events_pb2 as order_events
from shop.order.v1 import order_pb2
from shop_checkout import mapping, store
from shop_checkout.domain import holds, transitions
from shop_checkout.domain.model import CancelReason, Checkout, OrderStatus, ReviewDecision, Status
from shopkit.consumer import after_commit
from shopkit.outbox import add_event

log = logging.getLogger("shop_checkout.events")

CHECKOUT_COMPLETED = "shop.checkout.completed"
CHECKOUT_FAILED = "shop.checkout.failed"
ORDER_CONFIRMED = "shop.order.confirmed"
ORDER_CANCELLED = "shop.order.cancelled"
REVIEW_DECIDED = "shop.fraud.review_decided"
ORDER_CONSUMER = "order-outcomes"
FRAUD_CONSUMER = "fraud-reviews"


def ends(before: Checkout, after: Checkout) -> bool:
    """The change from `before` to `after` ends the checkout (and publishes its final event)."""
    return before.status is not after.status and after.status in (Status.COMPLETED, Status.FAILED)


def finished_event(before: Checkout, after: Checkout) -> tuple[str, Message, str] | None:
    """shop.checkout.completed / shop.checkout.failed (subject, message, aggregate id) when the change
    from `before` to `after` ends the checkout."""
    if not ends(before, after):
        return None
    customer = after.request.customer
    if after.status is Status.COMPLETED:
        assert after.order is not None and after.total is not None
        completed = events_pb2.CheckoutCompleted(
            checkout_id=after.checkout_id,
            order_id=after.order.order_id,
            cart_id=after.request.cart_id,
            customer_id=customer.customer_id,
            account_id=customer.account_id,
            total=mapping.money_pb(after.total),
            payment_captured=after.captured,
        )
        return CHECKOUT_COMPLETED, completed, after.checkout_id
    failed = events_pb2.CheckoutFailed(
        checkout_id=after.checkout_id,
        order_id=after.order.order_id if after.order else "",
        cart_id=after.request.cart_id,
        customer_id=customer.customer_id,
        failure=mapping.failure_pb(after),
    )
    return CHECKOUT_FAILED, failed, after.checkout_id


async def stage_finished(conn: AsyncConnection, before: Checkout, after: Checkout) -> bool:
    """Stage the checkout's final event when `after` reached its end; True if staged."""
    event = finished_event(before, after)
    if event is None:
        return False
    await add_event(conn, store.outbox, *event)
    return True


# Read a review from fraud, an order from order (None when the service knows no such thing).
ReadReview = Callable[[str], Awaitable[fraud_pb2.Review | None]]
ReadOrder = Callable[[str], Awaitable[order_pb2.Order | None]]


class EventHandlers:
    """Consumers of order and fraud events. `changed` is called when a checkout may have work again.

    An event is a notice, not the evidence: what it says happened is read back from the service that
    owns it (`read_review`, `read_order`) before a checkout acts on it, since anyone who can publish
    on a subject could write anything into an event. While that service cannot be reached, the
    handler raises and the event is delivered again."""

    def __init__(
        self, policy: transitions.Policy, changed: Callable[[], None], read_review: ReadReview, read_order: ReadOrder
    ):
        self.policy = policy
        self.changed = changed
        self.read_review = read_review
        self.read_order = read_order

    async def handle_order_event(self, conn: AsyncConnection, msg: Msg) -> None:
        now = datetime.now(UTC)
        if msg.subject == ORDER_CONFIRMED:
            confirmed = order_events.OrderConfirmed.FromString(msg.data)
            checkout_id = confirmed.checkout_id
            if not (_is_uuid(checkout_id) and _is_uuid(confirmed.order_id)):
                return
            if await store.confirmation_changes_nothing(conn, checkout_id):
                return  # the usual case: the order started confirmed, as the saga recorded
            order = await self._confirmed_order(confirmed.order_id, checkout_id)
            if order is not None and mapping.order_status(order.status) in (OrderStatus.CONFIRMED, OrderStatus.OTHER):
                await self._apply(conn, checkout_id, lambda c: holds.on_order_confirmed(c, now, self.policy))
        elif msg.subject == ORDER_CANCELLED:
            cancelled = order_events.OrderCancelled.FromString(msg.data)
            if not (_is_uuid(cancelled.checkout_id) and _is_uuid(cancelled.order_id)):
                return
            order = await self._confirmed_order(cancelled.order_id, cancelled.checkout_id)
            if order is None or order.status != order_pb2.ORDER_STATUS_CANCELLED:
                return
            reason = mapping.CANCEL_REASON_FROM_PB.get(order.cancellation_reason, CancelReason.MERCHANT)  # type: ignore[call-overload]
            await self._apply(conn, cancelled.checkout_id, lambda c: holds.on_order_cancelled(c, reason, now))

    async def _confirmed_order(self, order_id: str, checkout_id: str) -> order_pb2.Order | None:
        """The order an event speaks of, as order holds it, when it is the order of that checkout."""
        order = await self.read_order(order_id)
        if order is None or order.checkout_id != checkout_id:
            log.warning(
                "order event not confirmed by order: ignored", extra={"checkout_id": checkout_id, "order_id": order_id}
            )
            return None
        return order

    async def fetch_review(self, msg: Msg) -> fraud_pb2.Review | None:
        """The consumer's prefetch for a review decision (before its transaction opens): the review
        as fraud holds it, when it is the review of the event's checkout. The event only says that a
        review was decided: anyone who can publish on the subject could write any status into one."""
        decided = fraud_events.FraudReviewDecided.FromString(msg.data)
        if not (_is_uuid(decided.review_id) and _is_uuid(decided.checkout_id)):
            return None
        review = await self.read_review(decided.review_id)  # unreachable: raises, the event comes again
        if review is None or review.assessment.checkout_id != decided.checkout_id:
            log.warning(
                "review decision not confirmed by fraud: ignored",
                extra={"checkout_id": decided.checkout_id, "review_id": decided.review_id},
            )
            return None
        return review

    async def handle_review_decided(self, conn: AsyncConnection, msg: Msg, review: fraud_pb2.Review | None) -> None:
        """Apply the decision `fetch_review` read from fraud."""
        if review is None:
            return
        decided = fraud_events.FraudReviewDecided.FromString(msg.data)
        if review.status == fraud_pb2.REVIEW_STATUS_APPROVED:
            decision = ReviewDecision.APPROVED
        elif review.status == fraud_pb2.REVIEW_STATUS_REJECTED:
            decision = ReviewDecision.REJECTED
        else:
            return  # still open (or cancelled): nothing decided
        now = datetime.now(UTC)

        def change(c: Checkout) -> Checkout:
            if c.fraud is not None and c.fraud.review_id and c.fraud.review_id != decided.review_id:
                return c  # a decision about another review
            return holds.on_review_decided(c, decision, now, self.policy)

        await self._apply(conn, decided.checkout_id, change)

    async def _apply(self, conn: AsyncConnection, checkout_id: str, change: Callable[[Checkout], Checkout]) -> None:
        if not _is_uuid(checkout_id):
            return  # not a checkout of ours (e.g. an order created by another channel)
        locked = await store.lock(conn, checkout_id)
        if locked is None:
            log.info("event for an unknown checkout", extra={"checkout_id": checkout_id})
            return
        current, owner, _ = locked
        updated = change(current)
        if updated == current:
            return
        await store.save(conn, updated, owner=owner, lease_seconds=0, keep_lease=True)
        if updated.status is not current.status:
            log.info(
                "checkout %s: %s -> %s by event",
                checkout_id,
                current.status.value,
                updated.status.value,
                extra={"checkout_id": checkout_id},
            )
        after_commit(self.changed)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
