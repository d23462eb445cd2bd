"""Returns through the order service's gRPC API, with the real catalog (return terms), inventory
(restock, the replacement's stock) and payment sandbox (refunds) behind it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc

from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for
from shopkit.testing import eventually

STAFF = metadata_for("store_staff", "staff-1")


async def delivered(
    shop: Any, skus: dict[str, tuple[int, int]], *, window_days: int | None = None, **options: Any
) -> tuple[order_pb2.Order, str]:
    """A captured, fully shipped order of new products (sku -> (quantity, unit price)); its customer."""
    returnable, variants = options.pop("returnable", True), options.pop("variants", [])
    await shop.catalog.product([*skus, *variants], window_days=window_days, returnable=returnable)
    customer_id = shop.new_id("cus-")
    order = await shop.place(customer_id=customer_id, lines=skus, **options)
    await shop.capture(order.order_id)
    return await shop.fulfil(order), customer_id


def request(order: order_pb2.Order, quantities: dict[int, int], **fields: Any) -> order_pb2.RequestReturnRequest:
    exchange = fields.pop("exchange", {})
    message = order_pb2.RequestReturnRequest(
        order_id=order.order_id,
        request_id=fields.pop("request_id", str(uuid.uuid4())),
        reason=fields.pop("reason", order_pb2.RETURN_REASON_CHANGED_MIND),
        method=fields.pop("method", order_pb2.RETURN_METHOD_MAIL),
        lines=[
            order_pb2.ReturnLineRequest(line_id=order.lines[i].line_id, quantity=q, exchange_sku=exchange.get(i, ""))
            for i, q in quantities.items()
        ],
        **fields,
    )
    return message


async def start(shop: Any, customer_id: str, message: order_pb2.RequestReturnRequest) -> order_pb2.Return:
    response: order_pb2.RequestReturnResponse = await shop.stub.RequestReturn(
        message, metadata=shop.customer(customer_id)
    )
    return response.order_return


async def receive(shop: Any, return_id: str, location_id: str) -> order_pb2.Return:
    request = order_pb2.ReceiveReturnRequest(return_id=return_id, location_id=location_id)
    response: order_pb2.ReceiveReturnResponse = await shop.stub.ReceiveReturn(request, metadata=STAFF)
    return response.order_return


def inspection(ret: order_pb2.Return, outcome: dict[int, tuple[int, int, int]], **fields: Any) -> Any:
    return order_pb2.InspectReturnRequest(
        return_id=ret.return_id,
        request_id=fields.pop("request_id", str(uuid.uuid4())),
        lines=[
            order_pb2.InspectedLine(
                line_id=ret.lines[i].line_id, accepted_sellable=s, accepted_unsellable=u, rejected=r
            )
            for i, (s, u, r) in outcome.items()
        ],
    )


async def on_hand(shop: Any, sku: str, location_id: str) -> int:
    levels: dict[str, tuple[int, int]] = await shop.inventory.levels(sku)
    return levels.get(location_id, (0, 0))[0]


async def refunded_at_provider(shop: Any, order: order_pb2.Order) -> int:
    auth = await shop.sandbox.authorization(order.payment.authorisation_id)
    return int(auth.get("amount_refunded", 0))


async def test_store_return_restocks_at_the_store_and_refunds_everything_with_shipping(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    store = await shop.inventory.stocked({sku: 0})
    order, customer_id = await delivered(shop, {sku: (2, 1000)})
    ret = await start(shop, customer_id, request(order, {0: 2}, method=order_pb2.RETURN_METHOD_STORE, store_id=store))
    assert ret.status == order_pb2.RETURN_STATUS_REQUESTED and ret.order_number == order.number
    assert ret.email == order.email and ret.lines[0].requested_quantity == 2
    received = await receive(shop, ret.return_id, store)
    assert received.status == order_pb2.RETURN_STATUS_RECEIVED and received.receiving_location_id == store
    inspected = await shop.stub.InspectReturn(inspection(ret, {0: (2, 0, 0)}), metadata=STAFF)
    assert inspected.order_return.status == order_pb2.RETURN_STATUS_REFUNDED
    # Everything came back: the lines' paid amount and the shipping.
    assert inspected.order_return.refund_amount.amount == 2500
    assert inspected.order_return.shipping_refund.amount == 500
    assert inspected.order.status == order_pb2.ORDER_STATUS_REFUNDED
    assert inspected.order.lines[0].refunded_quantity == 2

    async def settled() -> bool:
        return await on_hand(shop, sku, store) == 2 and await refunded_at_provider(shop, order) == 2500

    await eventually(settled)
    history = (await shop.get(order.order_id, full=True)).history
    changes = [entry.change for entry in history]
    for change in (
        order_pb2.ORDER_CHANGE_RETURN_REQUESTED,
        order_pb2.ORDER_CHANGE_RETURN_RECEIVED,
        order_pb2.ORDER_CHANGE_RETURN_INSPECTED,
        order_pb2.ORDER_CHANGE_REFUNDED,
    ):
        assert change in changes
    listed = await shop.stub.ListReturns(
        order_pb2.ListReturnsRequest(order_id=order.order_id), metadata=shop.customer(customer_id)
    )
    assert [r.return_id for r in listed.returns] == [ret.return_id]


async def test_mail_return_with_a_rejected_unit_refunds_and_restocks_only_what_was_accepted(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    warehouse = await shop.inventory.stocked({sku: 5})
    order, customer_id = await delivered(shop, {sku: (3, 1000)})
    ret = await start(shop, customer_id, request(order, {0: 3}))
    await receive(shop, ret.return_id, warehouse)
    inspected = await shop.stub.InspectReturn(inspection(ret, {0: (1, 1, 1)}), metadata=STAFF)
    done = inspected.order_return
    assert (done.lines[0].accepted_sellable, done.lines[0].accepted_unsellable, done.lines[0].rejected) == (1, 1, 1)
    assert done.refund_amount.amount == 2000 and done.shipping_refund.amount == 0
    assert inspected.order.payment_status == order_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED

    async def settled() -> bool:
        return await on_hand(shop, sku, warehouse) == 6 and await refunded_at_provider(shop, order) == 2000

    await eventually(settled)
    # The rejected unit went back to the customer: it may be returned again (here at a store's counter,
    # where the staff start it for the customer).
    message = request(order, {0: 1}, reason=order_pb2.RETURN_REASON_DEFECTIVE)
    again = (await shop.stub.RequestReturn(message, metadata=STAFF)).order_return
    assert again.status == order_pb2.RETURN_STATUS_REQUESTED and again.customer_id == customer_id


async def test_shop_fault_refunds_shipping_with_part_of_the_order(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    warehouse = await shop.inventory.stocked({sku: 0})
    order, customer_id = await delivered(shop, {sku: (2, 1000)})
    ret = await start(shop, customer_id, request(order, {0: 1}, reason=order_pb2.RETURN_REASON_DAMAGED))
    await receive(shop, ret.return_id, warehouse)
    done = (await shop.stub.InspectReturn(inspection(ret, {0: (0, 1, 0)}), metadata=STAFF)).order_return
    assert done.refund_amount.amount == 1500 and done.shipping_refund.amount == 500


async def test_product_terms_come_from_the_catalog(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    order, customer_id = await delivered(shop, {sku: (1, 1000)}, returnable=False)
    before = await shop.counts()
    error = await shop.fails(shop.stub.RequestReturn(request(order, {0: 1}), metadata=shop.customer(customer_id)))
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION and error.reason == "PRODUCT_NOT_RETURNABLE"
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    order, customer_id = await delivered(shop, {sku: (1, 1000)}, window_days=0)
    before = await shop.counts()
    error = await shop.fails(shop.stub.RequestReturn(request(order, {0: 1}), metadata=shop.customer(customer_id)))
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION and error.reason == "RETURN_WINDOW_CLOSED"
    assert await shop.counts() == before


async def test_repeats_over_returns_and_other_callers(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    order, customer_id = await delivered(shop, {sku: (2, 1000)})
    first = request(order, {0: 2})
    ret = await start(shop, customer_id, first)
    assert (await start(shop, customer_id, first)).return_id == ret.return_id
    before = await shop.counts()
    over = await shop.fails(shop.stub.RequestReturn(request(order, {0: 1}), metadata=shop.customer(customer_id)))
    assert over.code is grpc.StatusCode.INVALID_ARGUMENT and over.violations[0].field == "lines[0].quantity"
    reused = request(order, {0: 1}, request_id=first.request_id)
    error = await shop.fails(shop.stub.RequestReturn(reused, metadata=shop.customer(customer_id)))
    assert error.code is grpc.StatusCode.ALREADY_EXISTS
    stranger = shop.customer(shop.new_id("cus-"))
    error = await shop.fails(shop.stub.RequestReturn(request(order, {0: 1}), metadata=stranger))
    assert error.code is grpc.StatusCode.NOT_FOUND
    error = await shop.fails(
        shop.stub.GetReturn(order_pb2.GetReturnRequest(return_id=ret.return_id), metadata=stranger)
    )
    assert error.code is grpc.StatusCode.NOT_FOUND
    receive_request = order_pb2.ReceiveReturnRequest(return_id=ret.return_id, location_id="wh-main")
    error = await shop.fails(shop.stub.ReceiveReturn(receive_request, metadata=shop.customer(customer_id)))
    assert error.code is grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_RETURN_STAFF"
    error = await shop.fails(shop.stub.InspectReturn(inspection(ret, {0: (2, 0, 0)}), metadata=STAFF))
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION and error.reason == "RETURN_NOT_RECEIVED"
    assert await shop.counts() == before


async def test_concurrent_receive_and_inspect_take_effect_once(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    warehouse = await shop.inventory.stocked({sku: 0})
    order, customer_id = await delivered(shop, {sku: (2, 1000)})
    ret = await start(shop, customer_id, request(order, {0: 2}))
    received = await asyncio.gather(*(receive(shop, ret.return_id, warehouse) for _ in range(5)))
    assert {r.version for r in received} == {2}
    calls = [shop.stub.InspectReturn(inspection(ret, {0: (2, 0, 0)}), metadata=STAFF) for _ in range(5)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(done) == 1 and len(refused) == 4
    assert {e.code() for e in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    refunds = (await shop.get(order.order_id)).refunds
    assert [r.amount.amount for r in refunds] == [2500]
    rows = await shop.sql("SELECT count(*) AS n FROM order_effects WHERE idempotency_key LIKE 'return:%'")
    history = (await shop.get(order.order_id, full=True)).history
    assert sum(1 for e in history if e.change == order_pb2.ORDER_CHANGE_RETURN_RECEIVED) == 1
    assert rows[0].n >= 1

    async def restocked() -> bool:
        return await on_hand(shop, sku, warehouse) == 2

    await eventually(restocked)


async def test_exchange_places_the_replacement_order_at_the_original_price(shop: Any) -> None:
    size_m, size_l = f"RT-{uuid.uuid4().hex[:8]}-M", f"RT-{uuid.uuid4().hex[:8]}-L"
    other = f"RT-{uuid.uuid4().hex[:8]}"
    await shop.catalog.product([other])
    warehouse = await shop.inventory.stocked({size_m: 0, size_l: 3})
    order, customer_id = await delivered(shop, {size_m: (1, 2500)}, variants=[size_l])
    # The exchanged SKU must be a variant of the returned product.
    wrong = request(order, {0: 1}, exchange={0: other})
    error = await shop.fails(shop.stub.RequestReturn(wrong, metadata=shop.customer(customer_id)))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "lines[0].exchange_sku"
    message = request(order, {0: 1}, exchange={0: size_l}, reason=order_pb2.RETURN_REASON_WRONG_SIZE)
    ret = await start(shop, customer_id, message)
    await receive(shop, ret.return_id, warehouse)
    done = (await shop.stub.InspectReturn(inspection(ret, {0: (1, 0, 0)}), metadata=STAFF)).order_return
    assert done.status == order_pb2.RETURN_STATUS_EXCHANGED and done.exchange_order_id
    # Wrong size is not the shop's fault and one line of the order stays: nothing is refunded.
    assert done.refund_amount.amount == 0
    replacement = await shop.get(done.exchange_order_id)
    assert replacement.status == order_pb2.ORDER_STATUS_CONFIRMED
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in replacement.lines] == [(size_l, 1, 2500)]
    assert replacement.totals.total.amount == 2500 and replacement.totals.shipping_total.amount == 0
    assert replacement.payment_status == order_pb2.PAYMENT_STATUS_CAPTURED
    assert replacement.payment.authorisation_id == order.payment.authorisation_id

    async def settled() -> bool:
        return await on_hand(shop, size_l, warehouse) == 2 and await on_hand(shop, size_m, warehouse) == 1

    await eventually(settled)


async def test_a_colleague_who_sees_the_order_may_not_return_its_goods(shop: Any) -> None:
    sku = f"RT-{uuid.uuid4().hex[:8]}"
    account = shop.new_id("acct-")
    order, buyer = await delivered(shop, {sku: (1, 1000)}, account_id=account)
    colleague = shop.b2b("b2b_buyer", shop.new_id("cus-"), account)
    error = await shop.fails(shop.stub.RequestReturn(request(order, {0: 1}), metadata=colleague))
    assert error.code is grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_ORDER_OWNER"
    own = shop.b2b("b2b_buyer", buyer, account)
    assert (await shop.stub.RequestReturn(request(order, {0: 1}), metadata=own)).order_return.lines
