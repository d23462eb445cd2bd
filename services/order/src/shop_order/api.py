"""The gRPC servicer: authorisation, validation at the edge and protobuf -> domain mapping
(domain -> protobuf is in `codec`, shared with the events)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop_order import codec
from shop_order.chain_request import check_chain
from shop_order.domain import decisions
from shop_order.domain.chain import ApprovalChain
from shop_order.domain.decisions import FulfilCommand, RefundCommand
from shop_order.domain.model import (
    Actor,
    Address,
    CancellationReason,
    FulfilmentMethod,
    FulfilmentStatus,
    Line,
    LineQuantity,
    Order,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Totals,
)
from shop_order.invoice_codec import invoice_terms
from shop_order.operations import ListQuery, Orders
from shopkit import pagination
from shopkit.auth import ROLES, require_role
from shopkit.errors import FieldViolation, InvalidArgument, PermissionDenied, Violations
from shopkit.identifiers import check_country, check_request_id, check_sku
from shopkit.money import Money, is_currency

Context = grpc.aio.ServicerContext[Any, Any]

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = 10**15
MAX_NOTE = 2000
MAX_TEXT = 200
MAX_ID = 128
NUMBER = re.compile(r"^SO-\d{6,}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
SHIP_REQUIRED = ("name", "line1", "city", "postal_code", "country")
BILLING_REQUIRED = ("name", "line1", "city", "country")
APPROVERS = ("b2b_approver", "admin")
CHECKOUT_ROLES = ("service", "admin")


# --- caller ------------------------------------------------------------------------------------


def actor_of(context: Context) -> Actor:
    """The caller as the domain sees it; an unknown or missing role is PERMISSION_DENIED."""
    who = require_role(context, ROLES)
    return Actor(who.role, who.customer_id, who.account_id)


# --- validation helpers ----------------------------------------------------------------------------


def check_uuid(v: Violations, value: str, path: str) -> None:
    try:
        ok = bool(value) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        ok = False
    v.check(ok, path, "must be a UUID")


def check_text(v: Violations, value: str, path: str, *, limit: int = MAX_TEXT, required: bool = False) -> None:
    if required and not value.strip():
        v.add(path, "is required")
    v.check(len(value) <= limit, path, f"must be at most {limit} characters")


def check_money(v: Violations, pb: common_pb2.Money, path: str, currency: str) -> Money:
    v.check(pb.currency == currency, f"{path}.currency", f"must be the order's currency {currency or '(unset)'}")
    v.check(0 <= pb.amount <= MAX_AMOUNT, f"{path}.amount", f"must be 0 to {MAX_AMOUNT}")
    return Money(pb.amount, pb.currency)


def check_address(v: Violations, pb: common_pb2.Address, path: str, required: Sequence[str]) -> Address:
    for name in ADDRESS_FIELDS:
        check_text(v, getattr(pb, name), f"{path}.{name}", required=name in required)
    if pb.country:
        check_country(v, pb.country, f"{path}.country")
    return Address(**{name: getattr(pb, name).strip() for name in ADDRESS_FIELDS})


def check_quantities(v: Violations, items: Sequence[order_pb2.LineQuantity], path: str) -> tuple[LineQuantity, ...]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        check_uuid(v, item.line_id, f"{path}[{i}].line_id")
        v.check(item.line_id not in seen, f"{path}[{i}].line_id", "repeats an earlier line")
        seen.add(item.line_id)
        v.check(1 <= item.quantity <= MAX_QUANTITY, f"{path}[{i}].quantity", f"must be 1 to {MAX_QUANTITY}")
    return tuple(LineQuantity(item.line_id, item.quantity) for item in items)


def check_view(v: Violations, view: int) -> bool:
    """Whether the history is wanted."""
    v.check(view in order_pb2.OrderView.values(), "view", "unknown view")
    return view == order_pb2.ORDER_VIEW_FULL


# --- CreateOrder --------------------------------------------------------------------------------------


def _lines(v: Violations, request: order_pb2.CreateOrderRequest, currency: str) -> tuple[Line, ...]:
    v.check(1 <= len(request.lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
    lines: list[Line] = []
    for i, pb in enumerate(request.lines):
        path = f"lines[{i}]"
        check_sku(v, pb.sku, f"{path}.sku")
        check_text(v, pb.product_id, f"{path}.product_id", limit=MAX_ID)
        check_text(v, pb.name, f"{path}.name", limit=500, required=True)
        v.check(1 <= pb.quantity <= MAX_QUANTITY, f"{path}.quantity", f"must be 1 to {MAX_QUANTITY}")
        unit = check_money(v, pb.unit_price, f"{path}.unit_price", currency)
        discount = check_money(v, pb.discount, f"{path}.discount", currency)
        total = check_money(v, pb.line_total, f"{path}.line_total", currency)
        tax = check_money(v, pb.tax, f"{path}.tax", currency) if pb.HasField("tax") else Money.zero(currency)
        gross = unit.amount * pb.quantity
        v.check(discount.amount <= gross, f"{path}.discount", "must not exceed unit_price * quantity")
        v.check(
            total.amount == gross - discount.amount, f"{path}.line_total", "must be unit_price * quantity - discount"
        )
        lines.append(
            Line(
                str(uuid.uuid4()),
                pb.sku,
                pb.product_id,
                pb.name.strip(),
                pb.quantity,
                unit,
                discount,
                total,
                tax=tax.amount,
            )
        )
    return tuple(lines)


def _totals(v: Violations, request: order_pb2.CreateOrderRequest, currency: str, lines: Sequence[Line]) -> Totals:
    pb = request.totals
    v.check(request.HasField("totals"), "totals", "is required")
    totals = Totals(
        check_money(v, pb.subtotal, "totals.subtotal", currency),
        check_money(v, pb.discount_total, "totals.discount_total", currency),
        check_money(v, pb.shipping_total, "totals.shipping_total", currency),
        check_money(v, pb.tax_total, "totals.tax_total", currency),
        check_money(v, pb.total, "totals.total", currency),
        pb.tax_included,
    )
    subtotal = sum(line.unit_price.amount * line.quantity for line in lines)
    v.check(totals.subtotal.amount == subtotal, "totals.subtotal", f"must be the lines' sum {subtotal}")
    line_discounts = sum(line.discount.amount for line in lines)
    v.check(
        totals.discount_total.amount >= line_discounts,
        "totals.discount_total",
        f"must include the lines' discounts ({line_discounts})",
    )
    # Where prices include the tax (EU VAT), tax_total is the part of the total that is tax.
    added_tax = 0 if totals.tax_included else totals.tax_total.amount
    expected = totals.subtotal.amount - totals.discount_total.amount + totals.shipping_total.amount + added_tax
    v.check(
        totals.total.amount == expected and expected >= 0,
        "totals.total",
        "must be subtotal - discount_total + shipping_total + tax_total (without tax_total when tax_included), "
        "not negative",
    )
    line_taxes = sum(line.tax for line in lines)
    v.check(totals.tax_total.amount >= line_taxes, "totals.tax_total", f"must include the lines' taxes ({line_taxes})")
    return totals


def _fulfilment_method(v: Violations, pb: order_pb2.FulfilmentMethod) -> FulfilmentMethod:
    kind = pb.WhichOneof("method")
    if kind == "ship":
        return FulfilmentMethod(
            ship_to=check_address(v, pb.ship.address, "fulfilment_method.ship.address", SHIP_REQUIRED)
        )
    if kind == "pickup":
        store_id = pb.pickup.store_id
        v.check(
            bool(LOCATION_ID.match(store_id)), "fulfilment_method.pickup.store_id", "must be an inventory location id"
        )
        return FulfilmentMethod(store_id=store_id)
    v.add("fulfilment_method", "is required: ship or pickup")
    return FulfilmentMethod(ship_to=Address())


def _payment(v: Violations, request: order_pb2.CreateOrderRequest, currency: str, total: Money) -> Payment:
    pb = request.payment
    kind = codec.PAYMENT_KIND_FROM_PB.get(pb.kind)
    check_text(v, pb.purchase_order_number, "payment.purchase_order_number", limit=64)
    authorised = Money(0, currency)
    if kind is None:
        v.add("payment.kind", "is required: PAYMENT_METHOD_KIND_CARD or PAYMENT_METHOD_KIND_INVOICE")
        kind = PaymentKind.CARD
    elif kind is PaymentKind.CARD:
        check_text(v, pb.payment_method_id, "payment.payment_method_id", limit=MAX_ID, required=True)
        check_text(v, pb.authorisation_id, "payment.authorisation_id", limit=MAX_ID, required=True)
        authorised = check_money(v, pb.authorised_amount, "payment.authorised_amount", currency)
        v.check(authorised.amount == total.amount, "payment.authorised_amount", "must be the order total")
    else:
        v.check(bool(request.customer.account_id), "payment.kind", "invoices are for B2B accounts only")
    return Payment(
        kind=kind,
        authorised_amount=authorised,
        payment_method_id=pb.payment_method_id,
        authorisation_id=pb.authorisation_id,
        purchase_order_number=pb.purchase_order_number.strip(),
    )


def draft_order(request: order_pb2.CreateOrderRequest) -> tuple[Order, Money | None, ApprovalChain]:
    """The order a CreateOrderRequest describes (statuses are the domain's to set), the approval
    limit when an approval is required, and its approval chain. Every problem of the request is
    reported at once."""
    v = Violations()
    check_request_id(v, request.checkout_id, "checkout_id")
    customer = request.customer
    currency = customer.currency
    v.check(is_currency(currency), "customer.currency", "must be an ISO-4217 code like USD")
    check_text(v, customer.customer_id, "customer.customer_id", limit=MAX_ID)
    check_text(v, customer.account_id, "customer.account_id", limit=MAX_ID)
    check_text(v, customer.channel, "customer.channel", limit=32)
    v.check(bool(EMAIL.match(request.email)) and len(request.email) <= 254, "email", "must be an e-mail address")
    lines = _lines(v, request, currency)
    totals = _totals(v, request, currency, lines)
    check_text(v, request.coupon_code, "coupon_code", limit=64)
    check_text(v, request.sales_quote_id, "sales_quote_id", limit=MAX_ID)
    method = _fulfilment_method(v, request.fulfilment_method)
    billing = Address()
    if request.HasField("billing_address"):
        billing = check_address(v, request.billing_address, "billing_address", BILLING_REQUIRED)
    else:
        v.add("billing_address", "is required")
    payment = _payment(v, request, currency, totals.total)
    if request.fraud_review_id:
        check_request_id(v, request.fraud_review_id, "fraud_review_id")
    if request.reservation_id:
        check_request_id(v, request.reservation_id, "reservation_id")
    limit = None
    if request.approval_required:
        v.check(bool(customer.account_id), "approval_required", "approvals are for B2B accounts only")
        v.check(request.HasField("approval_limit"), "approval_limit", "is required when approval_required")
    if request.HasField("approval_limit"):  # also beside a chain: the buyer's limit the order exceeded
        limit = check_money(v, request.approval_limit, "approval_limit", currency)
    chain = check_chain(v, request.approval_chain)
    if chain.steps:
        v.check(bool(customer.account_id), "approval_chain", "approvals are for B2B accounts only")
    v.raise_if_any()
    draft = Order(
        order_id=str(uuid.uuid4()),
        number="",
        checkout_id=request.checkout_id,
        customer_id=customer.customer_id,
        account_id=customer.account_id,
        email=request.email,
        channel=customer.channel,
        status=OrderStatus.CONFIRMED,
        payment_status=PaymentStatus.AUTHORISED,
        fulfilment_status=FulfilmentStatus.UNFULFILLED,
        currency=currency,
        lines=lines,
        totals=totals,
        fulfilment_method=method,
        billing_address=billing,
        payment=payment,
        coupon_code=request.coupon_code.strip(),
        sales_quote_id=request.sales_quote_id,
        fraud_review_id=request.fraud_review_id,
        reservation_id=request.reservation_id or request.checkout_id,
    )
    return draft, limit, chain


# --- ListOrders ------------------------------------------------------------------------------------


def list_scope(actor: Actor, customer_id: str, account_id: str) -> tuple[str, str]:
    """The (customer, account) filter a caller may use: staff any, B2B roles their account's,
    customers only their own orders."""
    if actor.role in decisions.READ_ALL_ROLES:
        return customer_id, account_id
    if actor.role in decisions.ACCOUNT_ROLES and actor.account_id:
        if account_id and account_id != actor.account_id:
            raise PermissionDenied("B2B roles may only list their own account's orders", reason="NOT_ORDER_OWNER")
        if customer_id == actor.id and not account_id:
            return customer_id, ""
        return customer_id, actor.account_id
    if (customer_id and customer_id != actor.id) or account_id or not actor.id:
        raise PermissionDenied("customers may only list their own orders", reason="NOT_ORDER_OWNER")
    return actor.id, ""


def read_cursor(token: str) -> tuple[datetime, str] | None:
    cursor = pagination.decode_token(token)
    if cursor is None:
        return None
    try:
        created_at = datetime.fromisoformat(str(cursor["c"]))
        order_id = str(uuid.UUID(str(cursor["i"])))
    except (KeyError, ValueError) as exc:
        raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")]) from exc
    return created_at, order_id


def page_token(found: Sequence[Order], limit: int) -> str:
    """The next page's token when more than `limit` orders were found (one beyond the page)."""
    last = found[limit - 1] if len(found) > limit else None
    if last is None or last.created_at is None:
        return ""
    return pagination.encode_token({"c": last.created_at.isoformat(), "i": last.order_id})


# --- the servicer ------------------------------------------------------------------------------------


class OrderServicer(order_pb2_grpc.OrderServiceServicer):
    def __init__(self, orders: Orders):
        self.orders = orders

    async def CreateOrder(
        self, request: order_pb2.CreateOrderRequest, context: Context
    ) -> order_pb2.CreateOrderResponse:
        who = require_role(context, CHECKOUT_ROLES)
        draft, limit, chain = draft_order(request)
        order = await self.orders.create(
            draft,
            approval_required=request.approval_required,
            approval_limit=limit,
            chain=chain,
            actor=Actor(who.role, who.customer_id, who.account_id),
            invoice_terms=invoice_terms(request),
        )
        return order_pb2.CreateOrderResponse(order=codec.order(order))

    async def GetOrder(self, request: order_pb2.GetOrderRequest, context: Context) -> order_pb2.GetOrderResponse:
        actor = actor_of(context)
        v = Violations()
        if request.order_id and request.number:
            v.add("order_id", "set order_id or number, not both")
        elif request.number:
            v.check(bool(NUMBER.match(request.number)), "number", "must be an order number like SO-000123")
        else:
            check_uuid(v, request.order_id, "order_id")
        full = check_view(v, request.view)
        v.raise_if_any()
        order = await self.orders.get(actor, order_id=request.order_id, number=request.number, full=full)
        return order_pb2.GetOrderResponse(order=codec.order(order, full=full))

    async def ListOrders(self, request: order_pb2.ListOrdersRequest, context: Context) -> order_pb2.ListOrdersResponse:
        actor = actor_of(context)
        v = Violations()
        check_text(v, request.customer_id, "customer_id", limit=MAX_ID)
        check_text(v, request.account_id, "account_id", limit=MAX_ID)
        statuses: list[OrderStatus] = []
        for i, status in enumerate(request.statuses):
            known = codec.ORDER_STATUS_FROM_PB.get(status)
            v.check(known is not None, f"statuses[{i}]", "unknown status")
            if known is not None:
                statuses.append(known)
        full = check_view(v, request.view)
        since = request.created_after.ToDatetime(tzinfo=UTC) if request.HasField("created_after") else None
        until = request.created_before.ToDatetime(tzinfo=UTC) if request.HasField("created_before") else None
        v.check(since is None or until is None or since < until, "created_before", "must be after created_after")
        v.raise_if_any()
        limit = pagination.page_size(request.page.page_size)
        after = read_cursor(request.page.page_token)
        customer_id, account_id = list_scope(actor, request.customer_id, request.account_id)
        found = await self.orders.list_orders(
            ListQuery(customer_id, account_id, tuple(dict.fromkeys(statuses)), after, limit + 1, full, since, until)
        )
        page = found[:limit]
        return order_pb2.ListOrdersResponse(
            orders=[codec.order(order, full=full) for order in page],
            page=common_pb2.PageResponse(next_page_token=page_token(found, limit)),
        )

    async def CancelOrder(
        self, request: order_pb2.CancelOrderRequest, context: Context
    ) -> order_pb2.CancelOrderResponse:
        actor = actor_of(context)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        reason = codec.CANCELLATION_REASON_FROM_PB.get(request.reason)
        v.check(reason is not None, "reason", "is required: a CancellationReason")
        v.check(
            actor.is_staff or reason in (None, CancellationReason.CUSTOMER_REQUEST),
            "reason",
            "customers may only give CANCELLATION_REASON_CUSTOMER_REQUEST",
        )
        check_text(v, request.note, "note", limit=MAX_NOTE)
        v.raise_if_any()
        assert reason is not None
        order = await self.orders.cancel(request.order_id, reason, actor, request.note.strip())
        return order_pb2.CancelOrderResponse(order=codec.order(order))

    async def ApproveOrder(
        self, request: order_pb2.ApproveOrderRequest, context: Context
    ) -> order_pb2.ApproveOrderResponse:
        who = require_role(context, APPROVERS)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        check_text(v, request.note, "note", limit=MAX_NOTE)
        v.raise_if_any()
        actor = Actor(who.role, who.customer_id, who.account_id)
        order = await self.orders.approve(request.order_id, actor, request.note.strip())
        return order_pb2.ApproveOrderResponse(order=codec.order(order))

    async def RejectOrder(
        self, request: order_pb2.RejectOrderRequest, context: Context
    ) -> order_pb2.RejectOrderResponse:
        who = require_role(context, APPROVERS)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        check_text(v, request.note, "note", limit=MAX_NOTE, required=True)
        v.raise_if_any()
        actor = Actor(who.role, who.customer_id, who.account_id)
        order = await self.orders.reject(request.order_id, actor, request.note.strip())
        return order_pb2.RejectOrderResponse(order=codec.order(order))

    async def ReleaseFraudHold(
        self, request: order_pb2.ReleaseFraudHoldRequest, context: Context
    ) -> order_pb2.ReleaseFraudHoldResponse:
        who = require_role(context, CHECKOUT_ROLES)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        check_request_id(v, request.review_id, "review_id")
        v.raise_if_any()
        actor = Actor(who.role, who.customer_id, who.account_id)
        order = await self.orders.release_fraud_hold(request.order_id, request.review_id, actor)
        return order_pb2.ReleaseFraudHoldResponse(order=codec.order(order))

    async def CapturePayment(
        self, request: order_pb2.CapturePaymentRequest, context: Context
    ) -> order_pb2.CapturePaymentResponse:
        who = require_role(context, CHECKOUT_ROLES)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        v.raise_if_any()
        order = await self.orders.capture(request.order_id, Actor(who.role, who.customer_id, who.account_id))
        return order_pb2.CapturePaymentResponse(order=codec.order(order))

    async def FulfilOrder(
        self, request: order_pb2.FulfilOrderRequest, context: Context
    ) -> order_pb2.FulfilOrderResponse:
        who = require_role(context)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        check_request_id(v, request.request_id, "request_id")
        v.check(1 <= len(request.lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
        lines = check_quantities(v, request.lines, "lines")
        if request.location_id:
            v.check(bool(LOCATION_ID.match(request.location_id)), "location_id", "must be an inventory location id")
        check_text(v, request.carrier, "carrier", limit=64)
        check_text(v, request.tracking_number, "tracking_number", limit=MAX_ID)
        v.raise_if_any()
        command = FulfilCommand(
            request.request_id, lines, request.location_id, request.carrier.strip(), request.tracking_number.strip()
        )
        order, fulfilment = await self.orders.fulfil(
            request.order_id, command, Actor(who.role, who.customer_id, who.account_id)
        )
        return order_pb2.FulfilOrderResponse(order=codec.order(order), fulfilment=codec.fulfilment(fulfilment))

    async def RefundOrder(
        self, request: order_pb2.RefundOrderRequest, context: Context
    ) -> order_pb2.RefundOrderResponse:
        who = require_role(context)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        check_request_id(v, request.request_id, "request_id")
        amount = None
        if request.HasField("amount"):
            amount = Money.from_proto(request.amount, "amount", v)
            v.check(1 <= amount.amount <= MAX_AMOUNT, "amount.amount", f"must be 1 to {MAX_AMOUNT}")
        lines = check_quantities(v, request.lines, "lines")
        check_text(v, request.reason, "reason", limit=MAX_NOTE, required=True)
        v.raise_if_any()
        command = RefundCommand(request.request_id, amount, lines, request.reason.strip())
        order, refund = await self.orders.refund(
            request.order_id, command, Actor(who.role, who.customer_id, who.account_id)
        )
        return order_pb2.RefundOrderResponse(order=codec.order(order), refund=codec.refund(refund))
