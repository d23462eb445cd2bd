"""The invoice RPCs of the order servicer (mixed into it like the return RPCs), and the invoice
summary on GetOrder/CreateOrder answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shop_order import invoice_codec
from shop_order.api import MAX_AMOUNT, MAX_ID, Context, actor_of, check_text, check_uuid
from shop_order.domain import decisions
from shop_order.domain.invoices import PaymentCommand
from shop_order.domain.model import Actor
from shop_order.invoice_operations import Invoices
from shopkit import pagination
from shopkit.auth import require_role
from shopkit.errors import FieldViolation, InvalidArgument, PermissionDenied, Violations
from shopkit.money import Money

INVOICE_NUMBER = re.compile(r"^INV-\d{6,}$")
KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
PAYERS = ("admin", "service")  # integrations record payments through the gateway as admin


def _account_scope(actor: Actor, account_id: str) -> str:
    """The account a caller may read invoices or credit of: staff any (empty: all), B2B roles theirs."""
    if actor.role in decisions.READ_ALL_ROLES:
        return account_id
    if actor.role in decisions.ACCOUNT_ROLES and actor.account_id and account_id in ("", actor.account_id):
        return actor.account_id
    raise PermissionDenied("only the account's own members and staff see its invoices", reason="NOT_ORDER_OWNER")


def _after(token: str) -> int:
    cursor = pagination.decode_token(token)
    if cursor is None:
        return 0
    try:
        return max(int(cursor["s"]), 0)
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")]) from exc


def _payment_command(request: order_pb2.RecordInvoicePaymentRequest, at: datetime) -> PaymentCommand:
    v = Violations()
    v.check(bool(INVOICE_NUMBER.match(request.number)), "number", "must be an invoice number like INV-000123")
    v.check(bool(KEY.match(request.idempotency_key)), "idempotency_key", "must be 8-128 letters, digits or ._:-")
    v.check(request.HasField("amount"), "amount", "is required")
    amount = Money.from_proto(request.amount, "amount", v)
    v.check(1 <= amount.amount <= MAX_AMOUNT, "amount.amount", f"must be 1 to {MAX_AMOUNT}")
    check_text(v, request.reference, "reference", limit=200)
    paid_at = None
    if request.HasField("paid_at"):
        try:
            paid_at = request.paid_at.ToDatetime(tzinfo=UTC)
        except ValueError:
            v.add("paid_at", "is not a valid timestamp")
    # A few minutes of clock skew between the payer's system and ours are not "in the future".
    v.check(paid_at is None or paid_at <= at + timedelta(minutes=5), "paid_at", "must not be in the future")
    v.raise_if_any()
    return PaymentCommand(request.idempotency_key, amount, request.reference.strip(), paid_at)


class InvoiceRpcs:
    """Mixed into the OrderServicer (before it: CreateOrder, GetOrder and ListOrders gain the invoice
    summaries)."""

    invoices: Invoices

    async def _with_invoice(self, order: order_pb2.Order) -> None:
        if order.payment.kind != order_pb2.PAYMENT_METHOD_KIND_INVOICE:
            return
        invoice = await self.invoices.of_order(order.order_id)
        if invoice is not None:
            order.invoice.CopyFrom(invoice_codec.summary(invoice, datetime.now(UTC)))

    async def CreateOrder(
        self, request: order_pb2.CreateOrderRequest, context: Context
    ) -> order_pb2.CreateOrderResponse:
        response: order_pb2.CreateOrderResponse = await super().CreateOrder(request, context)  # type: ignore[misc]
        await self._with_invoice(response.order)
        return response

    async def GetOrder(self, request: order_pb2.GetOrderRequest, context: Context) -> order_pb2.GetOrderResponse:
        response: order_pb2.GetOrderResponse = await super().GetOrder(request, context)  # type: ignore[misc]
        await self._with_invoice(response.order)
        return response

    async def ListOrders(self, request: order_pb2.ListOrdersRequest, context: Context) -> order_pb2.ListOrdersResponse:
        response: order_pb2.ListOrdersResponse = await super().ListOrders(request, context)  # type: ignore[misc]
        invoiced = [o.order_id for o in response.orders if o.payment.kind == order_pb2.PAYMENT_METHOD_KIND_INVOICE]
        found = await self.invoices.of_orders(invoiced)  # one query for the page
        at = datetime.now(UTC)
        for order in response.orders:
            if order.order_id in found:
                order.invoice.CopyFrom(invoice_codec.summary(found[order.order_id], at))
        return response

    async def GetInvoice(self, request: order_pb2.GetInvoiceRequest, context: Context) -> order_pb2.GetInvoiceResponse:
        actor = actor_of(context)
        v = Violations()
        if request.number and request.order_id:
            v.add("number", "set number or order_id, not both")
        elif request.order_id:
            check_uuid(v, request.order_id, "order_id")
        else:
            v.check(bool(INVOICE_NUMBER.match(request.number)), "number", "must be an invoice number like INV-000123")
        v.raise_if_any()
        invoice = await self.invoices.get(actor, number=request.number, order_id=request.order_id)
        return order_pb2.GetInvoiceResponse(invoice=invoice_codec.invoice(invoice, datetime.now(UTC)))

    async def ListInvoices(
        self, request: order_pb2.ListInvoicesRequest, context: Context
    ) -> order_pb2.ListInvoicesResponse:
        actor = actor_of(context)
        v = Violations()
        check_text(v, request.account_id, "account_id", limit=MAX_ID)
        statuses: list[str] = []
        for i, number in enumerate(request.statuses):
            status = invoice_codec.INVOICE_STATUS_FROM_PB.get(number)
            v.check(status is not None, f"statuses[{i}]", "unknown status")
            if status is not None:
                statuses.append(status.value)
        v.raise_if_any()
        account_id = _account_scope(actor, request.account_id)
        limit = pagination.page_size(request.page.page_size)
        found = await self.invoices.page(
            account_id, tuple(dict.fromkeys(statuses)), request.overdue_only, _after(request.page.page_token), limit + 1
        )
        page = found[:limit]
        token = pagination.encode_token({"s": page[-1].seq}) if len(found) > limit else ""
        at = datetime.now(UTC)
        return order_pb2.ListInvoicesResponse(
            invoices=[invoice_codec.invoice(invoice, at) for invoice in page],
            page=common_pb2.PageResponse(next_page_token=token),
        )

    async def RecordInvoicePayment(
        self, request: order_pb2.RecordInvoicePaymentRequest, context: Context
    ) -> order_pb2.RecordInvoicePaymentResponse:
        who = require_role(context, PAYERS)
        command = _payment_command(request, datetime.now(UTC))
        invoice, payment = await self.invoices.record_payment(
            request.number, command, Actor(who.role, who.customer_id, who.account_id)
        )
        return order_pb2.RecordInvoicePaymentResponse(
            invoice=invoice_codec.invoice(invoice, datetime.now(UTC)), payment=invoice_codec.payment(payment)
        )

    async def GetAccountCredit(
        self, request: order_pb2.GetAccountCreditRequest, context: Context
    ) -> order_pb2.GetAccountCreditResponse:
        actor = actor_of(context)
        v = Violations()
        check_text(v, request.account_id, "account_id", limit=MAX_ID, required=True)
        v.raise_if_any()
        account_id = _account_scope(actor, request.account_id)
        return invoice_codec.credit(account_id, await self.invoices.credit(account_id))
