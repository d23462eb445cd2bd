"""Orders for staff: search over every customer's orders, fulfilment (whole or partial) with carrier and
tracking, refunds by amount or lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shop_gateway.app import mapping
from shop_gateway.app.backoffice.common import (
    IDEMPOTENCY_FIELD,
    MAX_TEXT,
    check_count,
    check_text,
    require_admin,
    require_key,
)
from shop_gateway.app.errors import UpstreamError, upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import MAX_QUANTITY, check_page, set_timestamp
from shop_gateway.principal import Principal
from shopkit.errors import NotFound, Violations

MAX_LINES = 500  # lines of one order (the order service's bound)
FIELDS = {
    "request_id": IDEMPOTENCY_FIELD,
    "page.page_token": "page_token",
    "page.page_size": "page_size",
    "customer_id": "customer_id",
    "created_before": "created_before",
}


@dataclass(frozen=True)
class OrderQuery:
    statuses: Sequence[str] = ()
    customer_id: str = ""
    account_id: str = ""
    number: str = ""
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class LineQuantity:
    line_id: str
    quantity: int


def _created(order: order_pb2.Order) -> datetime:
    return order.created_at.ToDatetime(tzinfo=UTC)


def _in_range(order: order_pb2.Order, query: OrderQuery) -> bool:
    created = _created(order)
    if query.created_after is not None and created < query.created_after:
        return False
    return query.created_before is None or created < query.created_before


async def search_orders(shop: Shop, who: Principal, query: OrderQuery) -> tuple[list[order_pb2.Order], str]:
    """Every customer's orders, newest first: by number (one at most), else by customer or account,
    statuses and creation time; the orders and the cursor of the next page ("" at the end)."""
    require_admin(who)
    violations = Violations()
    size = check_page(violations, query.page_size)
    check_count(violations, query.statuses, "status", least=0, most=len(order_pb2.OrderStatus.DESCRIPTOR.values))
    statuses = [mapping.enum_value(order_pb2.OrderStatus.DESCRIPTOR, s, "ORDER_STATUS_") for s in query.statuses]
    for index, value in enumerate(statuses):
        violations.check(value is not None, f"status[{index}]", f"{query.statuses[index]!r} is not a known status")
    for name in ("customer_id", "account_id", "number"):
        check_text(violations, getattr(query, name), name)
    for name in ("created_after", "created_before"):
        moment = getattr(query, name)
        violations.check(moment is None or moment.tzinfo is not None, name, "must carry a UTC offset, e.g. Z")
    violations.raise_if_any()
    if query.number:
        return await _by_number(shop, who, query, statuses), ""
    request = order_pb2.ListOrdersRequest(
        customer_id=query.customer_id,
        account_id=query.account_id,
        statuses=[s for s in statuses if s is not None],  # type: ignore[misc]
        view=order_pb2.ORDER_VIEW_BASIC,
        page=common_pb2.PageRequest(page_size=size, page_token=query.page_token),
    )
    if query.created_after is not None:
        set_timestamp(request.created_after, query.created_after, "created_after")
    if query.created_before is not None:
        set_timestamp(request.created_before, query.created_before, "created_before")
    with upstream("order", FIELDS):
        response = await shop.backends.order.ListOrders(request, metadata=who.metadata())
    return list(response.orders), response.page.next_page_token


async def _by_number(
    shop: Shop, who: Principal, query: OrderQuery, statuses: list[int | None]
) -> list[order_pb2.Order]:
    request = order_pb2.GetOrderRequest(number=query.number, view=order_pb2.ORDER_VIEW_BASIC)
    try:
        with upstream("order", FIELDS):
            order = (await shop.backends.order.GetOrder(request, metadata=who.metadata())).order
    except UpstreamError as error:
        if error.code is grpc.StatusCode.NOT_FOUND:
            return []  # a search that finds nothing
        raise
    matches = (
        (not statuses or order.status in statuses)
        and (not query.customer_id or order.customer_id == query.customer_id)
        and (not query.account_id or order.account_id == query.account_id)
        and _in_range(order, query)
    )
    return [order] if matches else []


async def get_order(shop: Shop, who: Principal, order_id: str) -> order_pb2.Order:
    """One order with its fulfilments, refunds and history."""
    require_admin(who)
    if not order_id:
        raise NotFound("order", order_id)
    with upstream("order", {"order_id": "id"}):
        response = await shop.backends.order.GetOrder(
            order_pb2.GetOrderRequest(order_id=order_id, view=order_pb2.ORDER_VIEW_FULL), metadata=who.metadata()
        )
    return response.order


def _check_lines(violations: Violations, lines: Sequence[LineQuantity], *, least: int) -> None:
    check_count(violations, lines, "lines", least=least, most=MAX_LINES)
    for index, line in enumerate(lines):
        check_text(violations, line.line_id, f"lines[{index}].line_id", required=True)
        violations.check(
            1 <= line.quantity <= MAX_QUANTITY, f"lines[{index}].quantity", f"must be between 1 and {MAX_QUANTITY}"
        )


async def fulfil_order(
    shop: Shop,
    who: Principal,
    order_id: str,
    *,
    key: str,
    lines: Sequence[LineQuantity] = (),
    location_id: str = "",
    carrier: str = "",
    tracking_number: str = "",
) -> order_pb2.FulfilOrderResponse:
    """Records a shipment (or pickup) of some quantities of some lines; no lines: everything still open."""
    require_admin(who)
    violations = Violations()
    require_key(violations, key)
    _check_lines(violations, lines, least=0)
    check_text(violations, location_id, "location_id")
    check_text(violations, carrier, "carrier", limit=64)
    check_text(violations, tracking_number, "tracking_number")
    violations.raise_if_any()
    if not lines:
        order = await get_order(shop, who, order_id)
        lines = [
            LineQuantity(line.line_id, line.quantity - line.fulfilled_quantity)
            for line in order.lines
            if line.quantity > line.fulfilled_quantity
        ]
    request = order_pb2.FulfilOrderRequest(
        order_id=order_id,
        request_id=key,
        lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in lines],
        location_id=location_id,
        carrier=carrier,
        tracking_number=tracking_number,
    )
    with upstream("order", {**FIELDS, "order_id": "id"}):
        response: order_pb2.FulfilOrderResponse = await shop.backends.order.FulfilOrder(
            request, metadata=who.metadata()
        )
    return response


async def refund_order(
    shop: Shop,
    who: Principal,
    order_id: str,
    *,
    key: str,
    reason: str,
    amount: common_pb2.Money | None = None,
    lines: Sequence[LineQuantity] = (),
) -> order_pb2.RefundOrderResponse:
    """Refunds an amount (none: everything still refundable), with the returned lines if any."""
    require_admin(who)
    violations = Violations()
    require_key(violations, key)
    _check_lines(violations, lines, least=0)
    check_text(violations, reason, "reason", limit=MAX_TEXT, required=True)
    if amount is not None:
        violations.check(amount.amount >= 1, "amount.amount", "must be at least 1")
        violations.check(len(amount.currency) == 3, "amount.currency", "must be an ISO 4217 code")
    violations.raise_if_any()
    request = order_pb2.RefundOrderRequest(
        order_id=order_id,
        request_id=key,
        lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in lines],
        reason=reason,
    )
    if amount is not None:
        request.amount.CopyFrom(amount)
    with upstream("order", {**FIELDS, "order_id": "id"}):
        response: order_pb2.RefundOrderResponse = await shop.backends.order.RefundOrder(
            request, metadata=who.metadata()
        )
    return response
