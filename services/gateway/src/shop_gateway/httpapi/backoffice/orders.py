"""Orders for staff: search, one order with its history, fulfilment and refunds (role admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import Field

from shop.common.v1 import common_pb2
from shop_gateway.app.backoffice import orders
from shop_gateway.httpapi.backoffice.common import (
    Body,
    Id,
    IdempotencyKey,
    MoneyBody,
    PageSize,
    PageToken,
    Quantity,
    Text,
    router,
)
from shop_gateway.httpapi.backoffice.views import (
    FulfilmentResult,
    FulfilmentView,
    RefundResult,
    RefundView,
    StaffOrder,
    StaffOrderPage,
)
from shop_gateway.httpapi.deps import ShopDep, SignedIn

staff_orders = router("/v1/admin/orders", "back office: orders")


class LineQuantityBody(Body):
    line_id: Id
    quantity: Quantity


class FulfilmentBody(Body):
    lines: list[LineQuantityBody] = Field(
        default_factory=list, max_length=500, description="what leaves; empty: every quantity still open"
    )
    location_id: Id = Field("", description="the inventory location it leaves from")
    carrier: str = Field("", max_length=64, description='e.g. "DHL"; empty for a pickup')
    tracking_number: Id = ""


class RefundBody(Body):
    reason: Text = Field(description="required")
    amount: MoneyBody | None = Field(None, description="absent: everything still refundable")
    lines: list[LineQuantityBody] = Field(default_factory=list, max_length=500, description="returned quantities")


def _lines(body: list[LineQuantityBody]) -> list[orders.LineQuantity]:
    return [orders.LineQuantity(line.line_id, line.quantity) for line in body]


@staff_orders.get("", summary="Search every customer's orders, newest first (admin)")
async def search_orders(
    shop: ShopDep,
    who: SignedIn,
    status: Annotated[list[str] | None, Query(description="filter; repeatable")] = None,
    customer_id: Annotated[str, Query(max_length=128)] = "",
    account_id: Annotated[str, Query(max_length=128)] = "",
    number: Annotated[str, Query(max_length=128, description="an order number, e.g. SO-000123")] = "",
    created_after: Annotated[datetime | None, Query(description="inclusive, RFC 3339")] = None,
    created_before: Annotated[datetime | None, Query(description="exclusive, RFC 3339")] = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> StaffOrderPage:
    """A page may be shorter than page_size (also empty) with a next_page_token when a date range left
    orders out: follow the token until it is empty."""
    query = orders.OrderQuery(
        status or [], customer_id, account_id, number, created_after, created_before, page_size, page_token
    )
    found, token = await orders.search_orders(shop, who, query)
    return StaffOrderPage(orders=[StaffOrder.of(order) for order in found], next_page_token=token)


@staff_orders.get("/{order_id}", summary="One order with fulfilments, refunds and history (admin)")
async def get_staff_order(order_id: str, shop: ShopDep, who: SignedIn) -> StaffOrder:
    return StaffOrder.of(await orders.get_order(shop, who, order_id))


@staff_orders.post("/{order_id}/fulfilments", summary="Record a shipment or pickup, whole or partial (admin)")
async def fulfil_order(
    order_id: str, body: FulfilmentBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> FulfilmentResult:
    """The order becomes partially_fulfilled or fulfilled. The same Idempotency-Key records nothing new."""
    result = await orders.fulfil_order(
        shop,
        who,
        order_id,
        key=idempotency_key or "",
        lines=_lines(body.lines),
        location_id=body.location_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
    )
    return FulfilmentResult(order=StaffOrder.of(result.order), fulfilment=FulfilmentView.of(result.fulfilment))


@staff_orders.post("/{order_id}/refunds", summary="Refund an amount or returned lines (admin)")
async def refund_order(
    order_id: str, body: RefundBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> RefundResult:
    """To the original payment (an invoice gets a credit). The same Idempotency-Key refunds nothing more;
    more than is refundable is 409 REFUND_EXCEEDS_CAPTURED."""
    amount = common_pb2.Money(amount=body.amount.amount, currency=body.amount.currency) if body.amount else None
    result = await orders.refund_order(
        shop, who, order_id, key=idempotency_key or "", reason=body.reason, amount=amount, lines=_lines(body.lines)
    )
    return RefundResult(order=StaffOrder.of(result.order), refund=RefundView.of(result.refund))
