"""Concurrent submits: one idempotency key sent 20 times at once (over two replicas) starts one saga
and gives one order and one authorisation; one cart submitted under different keys gives at most
one order."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc

from shop.checkout.v1 import checkout_pb2

if TYPE_CHECKING:
    from conftest import Shop

C = checkout_pb2


async def test_twenty_concurrent_submits_with_one_key_give_one_order_and_one_authorisation(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1500, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    request = shop.request(cart_id, buyer, payment_method=await shop.card())

    async with shop.another_checkout() as (_, replica):
        answers = await asyncio.gather(
            *(shop.place(request, buyer, stub=replica if i % 2 else None) for i in range(20))
        )

    assert {a.checkout_id for a in answers} == {answers[0].checkout_id}
    assert {a.status for a in answers} == {C.CHECKOUT_STATUS_COMPLETED}
    assert {a.order_id for a in answers} == {answers[0].order_id}
    checkout_id = answers[0].checkout_id
    assert await shop.checkout_rows(idempotency_key=request.idempotency_key) == 1
    assert await shop.orders_of(checkout_id) == 1
    assert await shop.authorizations(checkout_id) == [("captured", 3000)]
    assert await shop.stock(sku) == {shop.warehouse: (8, 0)}
    checkout = await shop.checkout(checkout_id)
    assert [step.attempts for step in checkout.steps if step.kind == C.CHECKOUT_STEP_KIND_CREATE_ORDER] == [1]


async def test_one_cart_under_different_keys_gives_at_most_one_order(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1500, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    card = await shop.card()
    requests = [shop.request(cart_id, buyer, payment_method=card, key=shop.unique("key")) for _ in range(5)]

    outcomes = await asyncio.gather(*(shop.place(r, buyer) for r in requests), return_exceptions=True)

    placed = [o for o in outcomes if isinstance(o, C.PlaceOrderResponse)]
    refused = [shop.fails(_raise(o)) for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    errors = await asyncio.gather(*refused)
    assert len(placed) == 1 and placed[0].status == C.CHECKOUT_STATUS_COMPLETED
    assert len(errors) == 4
    assert {e.code for e in errors} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert {e.reason for e in errors} <= {"CHECKOUT_IN_PROGRESS", "CART_NOT_CHECKOUTABLE"}
    assert await shop.checkout_rows(cart_id=cart_id) == 1
    assert await shop.stock(sku) == {shop.warehouse: (9, 0)}


async def _raise(error: BaseException) -> None:
    raise error
