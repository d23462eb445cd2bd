"""PlaceOrder end to end over real gRPC with the real peers: the happy path and the business
outcomes (declined card, fraud block, out of stock, pickup), invoices, and the edge rules (bad
input, foreign carts, idempotency key reuse, deadlines)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import grpc

from shop.cart.v1 import cart_pb2
from shop.checkout.v1 import checkout_pb2, events_pb2
from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2

if TYPE_CHECKING:
    from conftest import Shop

C = checkout_pb2
COMPLETED = C.CHECKOUT_STATUS_COMPLETED
FAILED = C.CHECKOUT_STATUS_FAILED


def step_states(checkout: checkout_pb2.Checkout) -> dict[str, str]:
    return {
        C.CheckoutStepKind.Name(step.kind).removeprefix("CHECKOUT_STEP_KIND_").lower(): C.StepState.Name(step.state)
        .removeprefix("STEP_STATE_")
        .lower()
        for step in checkout.steps
    }


async def test_happy_path_places_a_confirmed_captured_order(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1250, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    card = await shop.card()

    placed = await shop.place(shop.request(cart_id, buyer, payment_method=card), buyer)

    assert placed.status == COMPLETED, placed
    assert placed.order_id and placed.order_number and not placed.HasField("failure")
    checkout = await shop.checkout(placed.checkout_id)
    assert list(step_states(checkout).values()) == [
        "succeeded",  # quote
        "succeeded",  # fraud
        "succeeded",  # reserve
        "skipped",  # coupon
        "skipped",  # sales quote
        "succeeded",  # authorise
        "succeeded",  # create order
        "skipped",  # review
        "skipped",  # approval
        "succeeded",  # commit
        "succeeded",  # capture
        "succeeded",  # clear cart
    ]
    assert checkout.totals.total == common_pb2.Money(amount=2500, currency="USD")
    assert checkout.payment_captured and checkout.finished_at.seconds > 0
    assert [(a.operation, a.succeeded) for a in checkout.payment_attempts] == [("authorise", True)]
    order = await shop.get_order(placed.order_id)
    assert order.status == order_pb2.ORDER_STATUS_CONFIRMED
    assert order.payment_status == order_pb2.PAYMENT_STATUS_CAPTURED
    assert [(line.sku, line.quantity) for line in order.lines] == [(sku, 2)]
    assert await shop.stock(sku) == {shop.warehouse: (8, 0)}
    assert await shop.authorizations(placed.checkout_id) == [("captured", 2500)]
    assert await shop.cart_status(cart_id) == cart_pb2.CART_STATUS_CHECKED_OUT

    def completed(data: bytes) -> bool:
        return events_pb2.CheckoutCompleted.FromString(data).checkout_id == placed.checkout_id

    event = events_pb2.CheckoutCompleted.FromString(await shop.event("shop.checkout.completed", completed))
    assert event.order_id == placed.order_id and event.payment_captured and event.total.amount == 2500
    assert event.meta.aggregate_id == placed.checkout_id and event.customer_id == buyer.customer_id


async def test_declined_card_fails_without_order_and_gives_everything_back(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    code = await shop.coupon(percent_bp=1000)
    cart_id = await shop.new_cart(buyer, {sku: 3}, coupon=code)
    request = shop.request(cart_id, buyer, payment_method=await shop.card(shop.CARD_NO_FUNDS))

    placed = await shop.place(request, buyer)

    assert placed.status == FAILED and not placed.order_id
    assert placed.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED
    assert placed.failure.step == C.CHECKOUT_STEP_KIND_AUTHORISE_PAYMENT
    assert "insufficient funds" in placed.failure.message
    checkout = await shop.checkout(placed.checkout_id)
    assert checkout.totals.discount_total.amount == 300 and checkout.totals.total.amount == 2700
    states = step_states(checkout)
    assert states["reserve_stock"] == "compensated" and states["redeem_coupon"] == "compensated"
    assert states["authorise_payment"] == "failed" and "create_order" not in states
    assert [(a.operation, a.succeeded, a.decline_code) for a in checkout.payment_attempts] == [
        ("authorise", False, "insufficient_funds")
    ]
    assert await shop.stock(sku) == {shop.warehouse: (5, 0)}
    assert await shop.coupon_uses(code) == 0
    assert await shop.authorizations(placed.checkout_id) == [("declined", 0)]
    assert await shop.orders_of(placed.checkout_id) == 0
    assert await shop.cart_status(cart_id) == cart_pb2.CART_STATUS_ACTIVE

    # The same key gives the same answer; the cart may be checked out again with a new key.
    again = await shop.place(request, buyer)
    assert again == placed
    request.idempotency_key = shop.unique("key")
    request.payment.card.payment_method_id = await shop.card()
    retried = await shop.place(request, buyer)
    assert retried.status == COMPLETED and retried.checkout_id != placed.checkout_id
    assert await shop.coupon_uses(code) == 1


async def test_a_declined_card_publishes_checkout_failed(shop: Shop) -> None:
    buyer = shop.customer()
    cart_id = await shop.new_cart(buyer, {await shop.sku(): 1})
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card(shop.CARD_DECLINED)), buyer)
    assert placed.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED

    def failed(data: bytes) -> bool:
        return events_pb2.CheckoutFailed.FromString(data).checkout_id == placed.checkout_id

    event = events_pb2.CheckoutFailed.FromString(await shop.event("shop.checkout.failed", failed))
    assert event.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED and event.cart_id == cart_id and not event.order_id


async def test_fraud_block_rejects_before_stock_or_money_move(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(stock=4)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card(), email=f"x@{shop.BLOCKED_DOMAIN}")

    placed = await shop.place(request, buyer)

    assert placed.status == FAILED and placed.failure.code == C.FAILURE_CODE_FRAUD_BLOCKED
    assert placed.failure.step == C.CHECKOUT_STEP_KIND_ASSESS_FRAUD
    checkout = await shop.checkout(placed.checkout_id)
    assert checkout.fraud_assessment_id and list(step_states(checkout)) == ["quote_prices", "assess_fraud"]
    assert await shop.stock(sku) == {shop.warehouse: (4, 0)}
    assert await shop.authorizations(placed.checkout_id) == []


async def test_out_of_stock_fails_with_the_short_lines(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(stock=3)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    await shop.set_stock(sku, 1)
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card()), buyer)
    assert placed.failure.code == C.FAILURE_CODE_OUT_OF_STOCK and sku in placed.failure.message
    assert await shop.authorizations(placed.checkout_id) == []


async def test_pickup_reserves_and_takes_stock_at_that_store(shop: Shop) -> None:
    buyer = shop.customer()
    store = await shop.location("st")
    sku = await shop.sku(stock={shop.warehouse: 10, store: 2})
    cart_id = await shop.new_cart(buyer, {sku: 2})

    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card(), pickup=store), buyer)

    assert placed.status == COMPLETED, placed
    assert await shop.stock(sku) == {shop.warehouse: (10, 0), store: (0, 0)}
    order = await shop.get_order(placed.order_id)
    assert order.fulfilment_method.pickup.store_id == store


async def test_pickup_at_a_store_without_pickup_fails(shop: Shop) -> None:
    buyer = shop.customer()
    store = await shop.location("st", pickup=False)
    sku = await shop.sku(stock={shop.warehouse: 10, store: 2})
    cart_id = await shop.new_cart(buyer, {sku: 1})
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card(), pickup=store), buyer)
    assert placed.status == FAILED and placed.failure.code == C.FAILURE_CODE_PICKUP_UNAVAILABLE
    assert await shop.stock(sku) == {shop.warehouse: (10, 0), store: (2, 0)}


async def test_an_unknown_payment_method_fails_cleanly(shop: Shop) -> None:
    buyer = shop.customer()
    cart_id = await shop.new_cart(buyer, {await shop.sku(): 1})
    placed = await shop.place(shop.request(cart_id, buyer, payment_method="pm_doesnotexist"), buyer)
    assert placed.status == FAILED and placed.failure.code == C.FAILURE_CODE_PAYMENT_METHOD_INVALID


async def test_guests_check_out_their_cart(shop: Shop) -> None:
    guest = shop.guest()
    cart_id = await shop.new_cart(guest, {await shop.sku(): 1})
    placed = await shop.place(shop.request(cart_id, guest, payment_method=await shop.card()), guest)
    assert placed.status == COMPLETED
    got = await shop.stub.GetCheckout(C.GetCheckoutRequest(checkout_id=placed.checkout_id), metadata=shop.GUEST)
    assert got.checkout.order_id == placed.order_id


async def test_b2b_invoice_needs_payment_terms(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=5000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    error = await shop.fails(shop.place(shop.request(cart_id, buyer, invoice=True), buyer))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "INVOICE_NOT_ALLOWED"
    consumer = shop.customer()
    consumer_cart = await shop.new_cart(consumer, {sku: 1})
    error = await shop.fails(
        shop.place(shop.request(consumer_cart, consumer, invoice=True, payment_terms_days=30), consumer)
    )
    assert error.reason == "INVOICE_NOT_ALLOWED"

    placed = await shop.place(shop.request(cart_id, buyer, invoice=True, payment_terms_days=30), buyer)

    assert placed.status == COMPLETED, placed
    states = step_states(await shop.checkout(placed.checkout_id))
    assert states["authorise_payment"] == "skipped" and states["capture_payment"] == "skipped"
    order = await shop.get_order(placed.order_id)
    assert order.payment_status == order_pb2.PAYMENT_STATUS_INVOICED
    assert order.payment.purchase_order_number == "PO-4711"
    assert await shop.authorizations(placed.checkout_id) == []


# --- the edge ------------------------------------------------------------------------------------


async def test_bad_input_is_rejected_with_every_violation_and_starts_nothing(shop: Shop) -> None:
    buyer = shop.customer()
    request = C.PlaceOrderRequest(
        cart_id="not-a-uuid",
        idempotency_key="short",
        client_ip="999.1.1.1",
        customer=buyer.context(),
        email="nobody",
    )
    request.fulfilment.ship.address.country = "Germany"
    error = await shop.fails(shop.place(request, buyer))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in error.violations}
    assert {
        "cart_id",
        "idempotency_key",
        "payment",
        "fulfilment.ship.address.name",
        "fulfilment.ship.address.country",
        "billing_address",
        "client_ip",
        "email",
    } <= fields
    assert await shop.checkout_rows(customer_id=buyer.customer_id) == 0


async def test_carts_of_others_are_not_found_and_callers_act_for_themselves(shop: Shop) -> None:
    owner, other = shop.customer(), shop.customer()
    cart_id = await shop.new_cart(owner, {await shop.sku(): 1})
    card = await shop.card()
    error = await shop.fails(shop.place(shop.request(cart_id, other, payment_method=card), other))
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = await shop.fails(shop.place(shop.request(cart_id, owner, payment_method=card), other))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    missing = shop.request(str(uuid.uuid4()), owner, payment_method=card)
    assert (await shop.fails(shop.place(missing, owner))).code == grpc.StatusCode.NOT_FOUND

    placed = await shop.place(shop.request(cart_id, owner, payment_method=card), owner)
    get = C.GetCheckoutRequest(checkout_id=placed.checkout_id)
    assert (await shop.fails(shop.stub.GetCheckout(get, metadata=other.metadata))).code == grpc.StatusCode.NOT_FOUND
    assert (await shop.stub.GetCheckout(get, metadata=owner.metadata)).checkout.checkout_id == placed.checkout_id
    listed = await shop.stub.ListCheckouts(C.ListCheckoutsRequest(), metadata=owner.metadata)
    assert [c.checkout_id for c in listed.checkouts] == [placed.checkout_id]
    foreign = C.ListCheckoutsRequest(customer_id=owner.customer_id)
    assert (await shop.fails(shop.stub.ListCheckouts(foreign, metadata=other.metadata))).code == (
        grpc.StatusCode.PERMISSION_DENIED
    )


async def test_empty_changed_and_checked_out_carts_are_refused(shop: Shop) -> None:
    buyer = shop.customer()
    card = await shop.card()
    empty = await shop.new_cart(shop.guest(), {})
    error = await shop.fails(shop.place(shop.request(empty, shop.guest(), payment_method=card), shop.guest()))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "CART_NOT_CHECKOUTABLE"

    cart_id = await shop.new_cart(buyer, {await shop.sku(): 1})
    stale = shop.request(cart_id, buyer, payment_method=card, cart_version=1)
    error = await shop.fails(shop.place(stale, buyer))
    assert error.code == grpc.StatusCode.ABORTED and error.reason == "CART_CHANGED"

    placed = await shop.place(shop.request(cart_id, buyer, payment_method=card), buyer)
    assert placed.status == COMPLETED
    error = await shop.fails(shop.place(shop.request(cart_id, buyer, payment_method=card), buyer))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "CART_NOT_CHECKOUTABLE"


async def test_an_idempotency_key_reused_for_another_request_is_already_exists(shop: Shop) -> None:
    buyer = shop.customer()
    cart_id = await shop.new_cart(buyer, {await shop.sku(): 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card())
    placed = await shop.place(request, buyer)
    other = C.PlaceOrderRequest()
    other.CopyFrom(request)
    other.email = "someone-else@example.com"
    error = await shop.fails(shop.place(other, buyer))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "IDEMPOTENCY_KEY_REUSED"
    # A retry from another IP or device is the same request.
    request.client_ip, request.device_id = "198.51.100.4", "another-device"
    assert await shop.place(request, buyer) == placed


async def test_place_order_answers_before_the_deadline_and_the_saga_goes_on(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(stock=3)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card())

    placed = await shop.place(request, buyer, deadline=0.55)  # leaves 50 ms after the margin

    assert placed.status in (C.CHECKOUT_STATUS_RUNNING, COMPLETED) and placed.checkout_id
    done = await shop.settled(placed.checkout_id)
    assert done.status == COMPLETED
    assert await shop.stock(sku) == {shop.warehouse: (2, 0)}


async def test_checkouts_are_listed_newest_first_page_by_page(shop: Shop) -> None:
    buyer = shop.customer()
    cart_id = await shop.new_cart(buyer, {await shop.sku(): 1})
    card = await shop.card()
    blocked = [  # failed checkouts leave the cart free for the next key
        await shop.place(shop.request(cart_id, buyer, payment_method=card, email=f"{i}@{shop.BLOCKED_DOMAIN}"), buyer)
        for i in range(3)
    ]
    request = C.ListCheckoutsRequest(statuses=[FAILED], page=common_pb2.PageRequest(page_size=2))
    first = await shop.stub.ListCheckouts(request, metadata=buyer.metadata)
    request.page.page_token = first.page.next_page_token
    second = await shop.stub.ListCheckouts(request, metadata=buyer.metadata)
    listed = [c.checkout_id for c in (*first.checkouts, *second.checkouts)]
    assert listed == [b.checkout_id for b in reversed(blocked)] and not second.page.next_page_token
    key = (await shop.checkout(blocked[1].checkout_id)).idempotency_key
    by_key = C.ListCheckoutsRequest(idempotency_key=key)
    found = await shop.stub.ListCheckouts(by_key, metadata=buyer.metadata)
    assert [c.checkout_id for c in found.checkouts] == [blocked[1].checkout_id]
    request.statuses[:] = [COMPLETED]
    request.page.page_token = ""
    assert not (await shop.stub.ListCheckouts(request, metadata=buyer.metadata)).checkouts
    request.page.page_token = "garbage"
    error = await shop.fails(shop.stub.ListCheckouts(request, metadata=buyer.metadata))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "page.page_token"
