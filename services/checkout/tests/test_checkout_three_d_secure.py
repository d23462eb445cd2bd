"""3-D Secure through PlaceOrder, over real gRPC with the real peers and the real payment sandbox: a card
that needs authentication holds the checkout ACTION_REQUIRED with the provider's next_action; the customer
completes (or fails) the challenge at the sandbox, and the same checkout goes on to an order (or fails)
when the client repeats PlaceOrder or when checkout's poll asks the provider; no action in time voids the
authorisation and gives the stock and coupon back."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from shop.cart.v1 import cart_pb2
from shop.checkout.v1 import checkout_pb2

if TYPE_CHECKING:
    from conftest import Buyer, Shop

C = checkout_pb2
CARD_3DS = "4000000000003220"
ACTION_REQUIRED = C.CHECKOUT_STATUS_ACTION_REQUIRED


async def take_challenge(action: checkout_pb2.NextAction, *, authenticated: bool = True) -> None:
    """The customer's side, as a browser does it: no credentials, the client secret alone."""
    async with httpx.AsyncClient(timeout=10) as browser:
        response = await browser.post(
            action.url, json={"client_secret": action.client_secret, "authenticated": authenticated}
        )
    assert response.status_code == 200, response.text


async def held_for_action(
    shop: Shop, buyer: Buyer, sku: str, quantity: int = 1, coupon: str = ""
) -> tuple[checkout_pb2.PlaceOrderRequest, checkout_pb2.PlaceOrderResponse]:
    cart_id = await shop.new_cart(buyer, {sku: quantity}, coupon=coupon)
    request = shop.request(cart_id, buyer, payment_method=await shop.card(CARD_3DS))
    placed = await shop.place(request, buyer)
    assert placed.status == ACTION_REQUIRED, placed
    return request, placed


async def test_a_completed_challenge_and_a_repeated_place_order_make_the_order(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1500, stock=5)
    request, placed = await held_for_action(shop, buyer, sku, 2)

    action = placed.next_action
    assert action.type == "three_d_secure" and action.client_secret and action.expires_at.seconds > 0
    assert action.url.startswith(shop.addresses["sandbox"]) and action.url.endswith("/challenge")
    assert not placed.order_id and not placed.HasField("failure")
    checkout = await shop.checkout(placed.checkout_id)
    assert checkout.status == ACTION_REQUIRED and checkout.next_action == action
    assert checkout.hold_expires_at == action.expires_at
    assert await shop.stock(sku) == {shop.warehouse: (5, 2)}
    assert await shop.authorizations(placed.checkout_id) == [("requires_action", 0)]
    # Repeated before the customer acted: still waiting, the same action, no second authorisation.
    assert await shop.place(request, buyer) == placed

    await take_challenge(action)
    done = await shop.place(request, buyer)

    assert done.status == C.CHECKOUT_STATUS_COMPLETED and done.order_id, done
    assert done.checkout_id == placed.checkout_id and not done.HasField("next_action")
    assert await shop.authorizations(placed.checkout_id) == [("captured", 3000)]
    assert await shop.orders_of(placed.checkout_id) == 1
    assert await shop.stock(sku) == {shop.warehouse: (3, 0)}
    finished = await shop.checkout(placed.checkout_id)
    assert [(a.operation, a.succeeded) for a in finished.payment_attempts] == [("authorise", True)]


async def test_concurrent_repeats_after_the_challenge_make_one_order_from_one_authorisation(shop: Shop) -> None:
    buyer = shop.customer()
    request, placed = await held_for_action(shop, buyer, await shop.sku(price=600))
    await take_challenge(placed.next_action)

    answers = await asyncio.gather(*(shop.place(request, buyer) for _ in range(6)))

    assert {(a.checkout_id, a.status, a.order_id) for a in answers} == {
        (placed.checkout_id, C.CHECKOUT_STATUS_COMPLETED, answers[0].order_id)
    }
    assert await shop.authorizations(placed.checkout_id) == [("captured", 600)]
    assert await shop.orders_of(placed.checkout_id) == 1


async def test_a_client_that_only_polls_gets_its_order_from_the_poll(shop: Shop) -> None:
    buyer = shop.customer()
    _, placed = await held_for_action(shop, buyer, await shop.sku(price=800))

    await take_challenge(placed.next_action)

    done = await shop.settled(placed.checkout_id, within=30.0)  # ACTION_POLL_SECONDS (5 s) asks the provider
    assert done.status == C.CHECKOUT_STATUS_COMPLETED and done.order_id
    assert await shop.authorizations(placed.checkout_id) == [("captured", 800)]


async def test_a_failed_challenge_fails_the_checkout_and_gives_everything_back(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=4)
    code = await shop.coupon(percent_bp=1000)
    request, placed = await held_for_action(shop, buyer, sku, coupon=code)
    assert await shop.coupon_uses(code) == 1

    await take_challenge(placed.next_action, authenticated=False)
    failed = await shop.place(request, buyer)

    assert failed.status == C.CHECKOUT_STATUS_FAILED and not failed.order_id
    assert failed.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED
    assert "authentication" in failed.failure.message
    checkout = await shop.checkout(placed.checkout_id)
    assert [(a.succeeded, a.decline_code) for a in checkout.payment_attempts] == [(False, "authentication_failed")]
    assert await shop.authorizations(placed.checkout_id) == [("declined", 0)]
    assert await shop.stock(sku) == {shop.warehouse: (4, 0)}
    assert await shop.coupon_uses(code) == 0
    assert await shop.cart_status(request.cart_id) == cart_pb2.CART_STATUS_ACTIVE


async def test_no_action_in_time_voids_the_authorisation_and_gives_everything_back(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1200, stock=3)
    async with shop.another_checkout(action_timeout_seconds=1.0) as (_, stub):
        cart_id = await shop.new_cart(buyer, {sku: 1})
        request = shop.request(cart_id, buyer, payment_method=await shop.card(CARD_3DS))
        placed = await shop.place(request, buyer, stub=stub)
        assert placed.status == ACTION_REQUIRED, placed

        expired = await shop.settled(placed.checkout_id, within=20.0)

    assert expired.status == C.CHECKOUT_STATUS_FAILED and not expired.order_id
    assert expired.failure.code == C.FAILURE_CODE_ACTION_EXPIRED
    assert expired.failure.step == C.CHECKOUT_STEP_KIND_AUTHORISE_PAYMENT
    assert not expired.HasField("next_action")
    assert [(a.operation, a.succeeded) for a in expired.payment_attempts] == [("authorise", False), ("void", True)]
    assert await shop.authorizations(placed.checkout_id) == [("voided", 0)]
    assert await shop.stock(sku) == {shop.warehouse: (3, 0)}
    # A late challenge finds nothing to complete: the voided authorisation stays voided.
    async with httpx.AsyncClient(timeout=10) as browser:
        late = await browser.post(
            placed.next_action.url, json={"client_secret": placed.next_action.client_secret, "authenticated": True}
        )
    assert (late.status_code, late.json()["code"]) == (409, "authorization_not_awaiting_challenge")
    assert await shop.place(request, buyer) == expired_answer(expired)


def expired_answer(expired: checkout_pb2.Checkout) -> checkout_pb2.PlaceOrderResponse:
    """What PlaceOrder replays for the expired checkout."""
    return checkout_pb2.PlaceOrderResponse(
        checkout_id=expired.checkout_id, status=C.CHECKOUT_STATUS_FAILED, failure=expired.failure
    )
