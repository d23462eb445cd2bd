"""Returns: domain <-> protobuf, for responses (api) and event payloads alike."""

from __future__ import annotations

from shop.order.v1 import order_pb2
from shop_order.codec import _enum_map, money, timestamp
from shop_order.domain.model import Order
from shop_order.domain.returns import Return, ReturnMethod, ReturnReason, ReturnStatus
from shopkit.money import Money

RETURN_STATUS = _enum_map(ReturnStatus, order_pb2.ReturnStatus, "RETURN_STATUS")
RETURN_METHOD = _enum_map(ReturnMethod, order_pb2.ReturnMethod, "RETURN_METHOD")
RETURN_REASON = _enum_map(ReturnReason, order_pb2.ReturnReason, "RETURN_REASON")
RETURN_METHOD_FROM_PB = {number: method for method, number in RETURN_METHOD.items()}
RETURN_REASON_FROM_PB = {number: reason for reason, number in RETURN_REASON.items()}


def order_return(ret: Return, order: Order) -> order_pb2.Return:
    """The return as the API and its events show it, with what a mail needs of its order."""
    currency = ret.currency

    def amount(value: int) -> Money:
        return Money(value, currency)

    return order_pb2.Return(
        return_id=ret.return_id,
        order_id=ret.order_id,
        order_number=order.number,
        customer_id=order.customer_id,
        email=order.email,
        status=RETURN_STATUS[ret.status],  # type: ignore[arg-type]
        method=RETURN_METHOD[ret.method],  # type: ignore[arg-type]
        store_id=ret.store_id,
        reason=RETURN_REASON[ret.reason],  # type: ignore[arg-type]
        note=ret.note,
        lines=[
            order_pb2.ReturnLine(
                line_id=line.line_id,
                sku=line.sku,
                name=line.name,
                requested_quantity=line.requested,
                accepted_sellable=line.accepted_sellable,
                accepted_unsellable=line.accepted_unsellable,
                rejected=line.rejected,
                exchange_sku=line.exchange_sku,
                refund_amount=money(amount(line.refund_amount)),
            )
            for line in ret.lines
        ],
        receiving_location_id=ret.receiving_location_id,
        refund_amount=money(amount(ret.refund_amount)),
        shipping_refund=money(amount(ret.shipping_refund)),
        refund_id=ret.refund_id,
        exchange_order_id=ret.exchange_order_id,
        requested_at=timestamp(ret.requested_at),
        received_at=timestamp(ret.received_at),
        inspected_at=timestamp(ret.inspected_at),
        version=ret.version,
    )
