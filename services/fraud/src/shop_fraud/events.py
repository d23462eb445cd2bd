"""Events the fraud service publishes (staged in the outbox in the caller's transaction) and the
handlers of the events it consumes.

Which counters come from where:
- Assess records an attempt under every key of the purchase (customer, email, IP, device, card),
  whatever the decision, so a burst of attempts counts before any order exists (card testing
  never gets as far as an order). IP, device and card are only known here.
- shop.order.placed records the order under its customer and email (a purchase that happened,
  also for orders whose attempt was never seen here) and adds it to the customer's amount
  history. The attempt and the order share the checkout id, so counts (`count(DISTINCT ref)`)
  see them as one purchase.
- shop.order.cancelled takes the order out of the amount history (a cancelled order is not what
  the customer usually spends); it stays in the velocity counts, since it was still a purchase.
  Refunds are not consumed: a returned purchase says nothing about what is usual for the customer.
- shop.checkout.failed closes a still-open review of that checkout as CANCELLED.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.message import Message
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.checkout.v1 import events_pb2 as checkout_events
from shop.fraud.v1 import events_pb2
from shop.order.v1 import events_pb2 as order_events
from shop_fraud import mapping, store
from shop_fraud.domain.purchase import Hasher, KeyKind, normalise_email
from shop_fraud.domain.reviews import Assessment, Review
from shopkit.consumer import message_id
from shopkit.money import Money
from shopkit.outbox import add_event

log = logging.getLogger("shop_fraud.events")

ASSESSED = "shop.fraud.assessed"
REVIEW_DECIDED = "shop.fraud.review_decided"

ORDER_PLACED = "shop.order.placed"
ORDER_CANCELLED = "shop.order.cancelled"
CHECKOUT_FAILED = "shop.checkout.failed"
ORDER_CONSUMER = "order-events"  # durable "fraud-order-events" on SHOP_ORDER
CHECKOUT_CONSUMER = "checkout-events"  # durable "fraud-checkout-events" on SHOP_CHECKOUT


def assessed(assessment: Assessment) -> tuple[str, Message, str]:
    """shop.fraud.assessed, to stage in the outbox of the assessment's unit of work."""
    outcome = assessment.outcome
    message = events_pb2.FraudAssessed(
        assessment_id=str(assessment.assessment_id),
        checkout_id=assessment.checkout_id,
        customer_id=assessment.purchase.customer_id,
        score=outcome.score,
        decision=mapping.DECISION_TO_PB[outcome.decision],
        reasons=[mapping.reason_to_pb(reason.code) for reason in outcome.reasons],
        review_id=str(assessment.review_id) if assessment.review_id else "",
    )
    return ASSESSED, message, str(assessment.assessment_id)


async def review_decided(conn: AsyncConnection, review: Review) -> None:
    message = events_pb2.FraudReviewDecided(
        review_id=str(review.review_id),
        assessment_id=str(review.assessment_id),
        checkout_id=review.checkout_id,
        status=mapping.STATUS_TO_PB[review.status],
        decided_by=review.decided_by,
        decided_at=mapping.timestamp(review.decided_at),
    )
    await add_event(conn, store.outbox, REVIEW_DECIDED, message, str(review.review_id))


class Consumers:
    """Handlers of consumed events; each runs once per message inside the kit's inbox transaction."""

    def __init__(self, hasher: Hasher, clock: Callable[[], datetime]):
        self.hasher = hasher
        self.clock = clock

    async def handle_order_event(self, conn: AsyncConnection, msg: Msg) -> None:
        """One durable consumer for both subjects keeps an order's placed and cancelled in order."""
        if msg.subject == ORDER_PLACED:
            await self.handle_order_placed(conn, msg)
        elif msg.subject == ORDER_CANCELLED:
            await self.handle_order_cancelled(conn, msg)

    async def handle_order_placed(self, conn: AsyncConnection, msg: Msg) -> None:
        order = order_events.OrderPlaced.FromString(msg.data).order
        if not order.order_id:
            log.warning("order placed event without an order ignored", extra={"message_id": message_id(msg)})
            return
        placed_at = order.created_at.ToDatetime(tzinfo=UTC) if order.HasField("created_at") else self.clock()
        total = order.totals.total
        amount = Money(total.amount, total.currency or order.currency)
        ref = order.checkout_id or f"order:{order.order_id}"
        keys: list[tuple[KeyKind, str]] = []
        if order.email:
            keys.append((KeyKind.EMAIL, normalise_email(order.email)))
        if order.customer_id:
            keys.append((KeyKind.CUSTOMER, order.customer_id))
            customer_key = self.hasher.key(KeyKind.CUSTOMER, order.customer_id)
            await store.record_order(conn, order.order_id, customer_key, amount, placed_at)
        rows = [
            {
                "kind": kind,
                "key": self.hasher.key(kind, value),
                "source": "order",
                "ref": ref,
                "at": placed_at,
                "amount": amount.amount,
                "currency": amount.currency,
            }
            for kind, value in keys
        ]
        await store.add_observations(conn, rows)

    async def handle_order_cancelled(self, conn: AsyncConnection, msg: Msg) -> None:
        event = order_events.OrderCancelled.FromString(msg.data)
        if event.order_id:
            await store.cancel_order(conn, event.order_id)

    async def handle_checkout_failed(self, conn: AsyncConnection, msg: Msg) -> None:
        event = checkout_events.CheckoutFailed.FromString(msg.data)
        if event.checkout_id:
            closed = await store.cancel_reviews_of_checkout(conn, event.checkout_id, self.clock())
            if closed:
                log.info("review cancelled: checkout failed", extra={"checkout_id": event.checkout_id})
