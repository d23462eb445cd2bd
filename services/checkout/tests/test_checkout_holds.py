"""Held checkouts: a fraud review decided in the fraud service, a B2B approval decided in the order
service; both reach checkout as events (shop.fraud.review_decided, shop.order.confirmed,
shop.order.cancelled) and resume or compensate the saga. Holds expire."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shop.cart.v1 import cart_pb2
from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.fraud.v1 import events_pb2 as fraud_events
from shop.fraud.v1 import fraud_pb2
from shop.order.v1 import events_pb2 as order_events
from shop.order.v1 import order_pb2
from shop_checkout import events

if TYPE_CHECKING:
    from conftest import Buyer, Shop

C = checkout_pb2
COMPLETED = C.CHECKOUT_STATUS_COMPLETED
FAILED = C.CHECKOUT_STATUS_FAILED


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


async def held_for_review(shop: Shop, buyer: Buyer, sku: str) -> C.PlaceOrderResponse:
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card(), ip_country=shop.REVIEW_COUNTRY)
    return await shop.place(request, buyer)


async def test_fraud_review_holds_the_order_uncaptured_until_the_analyst_approves(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=3000, stock=5)

    placed = await held_for_review(shop, buyer, sku)

    assert placed.status == C.CHECKOUT_STATUS_PENDING_REVIEW, placed
    held = await shop.checkout(placed.checkout_id)
    assert held.fraud_review_id and held.hold_expires_at.seconds > 0 and not held.payment_captured
    order = await shop.get_order(placed.order_id)
    assert order.status == order_pb2.ORDER_STATUS_PENDING_REVIEW
    assert await shop.authorizations(placed.checkout_id) == [("authorized", 0)]
    assert await shop.stock(sku) == {shop.warehouse: (5, 1)}  # still only reserved

    await shop.fraud.ApproveReview(
        fraud_pb2.ApproveReviewRequest(review_id=held.fraud_review_id, note="known customer"), metadata=shop.ANALYST
    )

    done = await shop.settled(placed.checkout_id)
    assert done.status == COMPLETED and done.payment_captured and done.order_id == placed.order_id
    assert (await shop.get_order(placed.order_id)).status == order_pb2.ORDER_STATUS_CONFIRMED
    assert await shop.authorizations(placed.checkout_id) == [("captured", 3000)]
    assert await shop.stock(sku) == {shop.warehouse: (4, 0)}


async def test_a_rejected_review_cancels_the_order_and_gives_everything_back(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=3000, stock=5)
    placed = await held_for_review(shop, buyer, sku)
    held = await shop.checkout(placed.checkout_id)

    await shop.fraud.RejectReview(
        fraud_pb2.RejectReviewRequest(review_id=held.fraud_review_id, note="stolen card"), metadata=shop.ANALYST
    )

    done = await shop.settled(placed.checkout_id)
    assert done.status == FAILED and done.failure.code == C.FAILURE_CODE_FRAUD_REJECTED
    order = await shop.get_order(placed.order_id)
    assert order.status == order_pb2.ORDER_STATUS_CANCELLED
    assert order.cancellation_reason == order_pb2.CANCELLATION_REASON_FRAUD_REJECTED
    await shop.authorizations_become(placed.checkout_id, [("voided", 0)])
    assert await shop.stock(sku) == {shop.warehouse: (5, 0)}


async def held_for_approval(shop: Shop, buyer: Buyer, sku: str) -> tuple[str, C.PlaceOrderResponse]:
    """3 x 4000 against an approval limit of 10,000: the cart and the answer of its checkout."""
    cart_id = await shop.new_cart(buyer, {sku: 3})
    request = shop.request(cart_id, buyer, payment_method=await shop.card(), approval_limit=usd(10_000))
    return cart_id, await shop.place(request, buyer)


async def test_b2b_over_the_limit_waits_for_an_approver_then_completes(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=4000, stock=10)

    cart_id, placed = await held_for_approval(shop, buyer, sku)

    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed
    held = await shop.checkout(placed.checkout_id)
    assert held.approval_required and not held.payment_captured
    assert (await shop.get_order(placed.order_id)).status == order_pb2.ORDER_STATUS_PENDING_APPROVAL
    assert await shop.cart_status(cart_id) == cart_pb2.CART_STATUS_ACTIVE

    await shop.order.ApproveOrder(
        order_pb2.ApproveOrderRequest(order_id=placed.order_id), metadata=shop.approver(buyer)
    )

    done = await shop.settled(placed.checkout_id)
    assert done.status == COMPLETED and done.payment_captured
    assert await shop.authorizations(placed.checkout_id) == [("captured", 12_000)]
    assert await shop.stock(sku) == {shop.warehouse: (7, 0)}
    assert await shop.cart_status(cart_id) == cart_pb2.CART_STATUS_CHECKED_OUT


async def test_b2b_rejection_compensates(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=4000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 3})
    request = shop.request(cart_id, buyer, invoice=True, payment_terms_days=30, approval_limit=usd(10_000))
    placed = await shop.place(request, buyer)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL

    await shop.order.RejectOrder(
        order_pb2.RejectOrderRequest(order_id=placed.order_id, note="over budget"), metadata=shop.approver(buyer)
    )

    done = await shop.settled(placed.checkout_id)
    assert done.status == FAILED and done.failure.code == C.FAILURE_CODE_APPROVAL_REJECTED
    assert await shop.stock(sku) == {shop.warehouse: (10, 0)}
    assert await shop.cart_status(cart_id) == cart_pb2.CART_STATUS_ACTIVE


async def test_a_monthly_limit_counts_earlier_checkouts_of_the_buyer(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=4000, stock=10)
    limit, month = usd(10_000), C.APPROVAL_PERIOD_MONTH
    first = await shop.new_cart(buyer, {sku: 2})
    request = shop.request(first, buyer, payment_method=await shop.card(), approval_limit=limit, approval_period=month)
    placed = await shop.place(request, buyer)
    assert placed.status == COMPLETED  # 8000 of 10000

    second = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(second, buyer, payment_method=await shop.card(), approval_limit=limit, approval_period=month)
    placed = await shop.place(request, buyer)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL  # 12000 this month


async def test_a_hold_that_expires_is_cancelled(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=4000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 3})
    async with shop.another_checkout(approval_hold_seconds=60) as (engine, stub):
        request = shop.request(cart_id, buyer, payment_method=await shop.card(), approval_limit=usd(100))
        placed = await shop.place(request, buyer, stub=stub)
        assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL
        # Move the hold's expiry into the past instead of waiting a minute.
        async with engine.db.transaction() as conn:
            await conn.exec_driver_sql(
                "UPDATE checkouts SET hold_expires_at = now() - interval '1 second', "
                "state = jsonb_set(state, '{hold_expires_at}', to_jsonb(now() - interval '1 second')) "
                f"WHERE id = '{placed.checkout_id}'"
            )
        done = await shop.settled(placed.checkout_id)
    assert done.status == FAILED and done.failure.code == C.FAILURE_CODE_HOLD_EXPIRED
    order = await shop.get_order(placed.order_id)
    assert order.cancellation_reason == order_pb2.CANCELLATION_REASON_HOLD_EXPIRED
    await shop.authorizations_become(placed.checkout_id, [("voided", 0)])
    assert await shop.stock(sku) == {shop.warehouse: (10, 0)}


async def test_a_forged_review_decision_changes_nothing_the_one_fraud_holds_goes_on(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=3000, stock=5)
    placed = await held_for_review(shop, buyer, sku)
    held = await shop.checkout(placed.checkout_id)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_REVIEW, placed

    # Anyone able to publish on the subject: an approval, then a rejection, that fraud never made.
    for status in (fraud_pb2.REVIEW_STATUS_APPROVED, fraud_pb2.REVIEW_STATUS_REJECTED):
        forged = fraud_events.FraudReviewDecided(
            review_id=held.fraud_review_id, checkout_id=placed.checkout_id, status=status, decided_by="nobody"
        )
        await shop.consumed(events.REVIEW_DECIDED, forged.SerializeToString(), events.FRAUD_CONSUMER)
    still = await shop.checkout(placed.checkout_id)
    assert still.status == C.CHECKOUT_STATUS_PENDING_REVIEW and not still.payment_captured
    assert (await shop.get_order(placed.order_id)).status == order_pb2.ORDER_STATUS_PENDING_REVIEW
    assert await shop.authorizations(placed.checkout_id) == [("authorized", 0)]

    approve = fraud_pb2.ApproveReviewRequest(review_id=held.fraud_review_id)
    await shop.fraud.ApproveReview(approve, metadata=shop.ANALYST)
    done = await shop.settled(placed.checkout_id)
    assert done.status == COMPLETED and done.payment_captured


async def test_forged_order_events_change_nothing_the_approver_s_decision_goes_on(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=4000, stock=10)
    _, placed = await held_for_approval(shop, buyer, sku)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed

    order_id, checkout_id = placed.order_id, placed.checkout_id
    confirmed = order_events.OrderConfirmed(
        order_id=order_id, checkout_id=checkout_id, previous_status=order_pb2.ORDER_STATUS_PENDING_APPROVAL
    )
    cancelled = order_events.OrderCancelled(
        order_id=order_id, checkout_id=checkout_id, reason=order_pb2.CANCELLATION_REASON_APPROVAL_REJECTED
    )
    await shop.consumed(events.ORDER_CONFIRMED, confirmed.SerializeToString(), events.ORDER_CONSUMER)
    await shop.consumed(events.ORDER_CANCELLED, cancelled.SerializeToString(), events.ORDER_CONSUMER)
    still = await shop.checkout(placed.checkout_id)
    assert still.status == C.CHECKOUT_STATUS_PENDING_APPROVAL and not still.payment_captured
    assert await shop.stock(sku) == {shop.warehouse: (10, 3)}

    approve = order_pb2.ApproveOrderRequest(order_id=placed.order_id)
    await shop.order.ApproveOrder(approve, metadata=shop.approver(buyer))
    done = await shop.settled(placed.checkout_id)
    assert done.status == COMPLETED and done.payment_captured
    assert await shop.stock(sku) == {shop.warehouse: (7, 0)}
