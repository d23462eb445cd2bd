"""B2B invoices, held by the order service: a company's members read their company's invoices (as JSON
or as a PDF), staff read every account's and record the payments received against them (by hand, or
an integration with scope invoices:write, which acts as admin). The order service checks the roles
and the account again; another account's invoice is as unknown as a missing one (404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2 as pb
from shop_gateway.app import invoice_pdf
from shop_gateway.app.access import require_role
from shop_gateway.app.backoffice.common import ADMIN, IDEMPOTENCY_FIELD, require_key
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import set_timestamp
from shop_gateway.principal import B2B_ROLES, Principal
from shopkit.errors import FieldViolation, InvalidArgument, Violations

READERS = (*B2B_ROLES, *ADMIN)
# The order service's field paths in the API's terms.
FIELDS = {"idempotency_key": IDEMPOTENCY_FIELD, "page.page_token": "page_token", "page.page_size": "page_size"}
STATUSES = {
    name.removeprefix("INVOICE_STATUS_").lower(): number
    for name, number in pb.InvoiceStatus.items()
    if number != pb.INVOICE_STATUS_UNSPECIFIED
}
STATUS_NAMES = {number: name for name, number in STATUSES.items()}
SELLER = "Shop"  # the seller line of the PDF


def credit_limit_of(who: Principal) -> common_pb2.Money | None:
    """What checkout weighs an invoice order against: the company's credit limit from the buying
    context (never the client's say); None for a company without one (0 means no limit)."""
    limit = who.credit_limit
    if not who.account_id or limit is None or limit.amount <= 0:
        return None
    return common_pb2.Money(amount=limit.amount, currency=limit.currency)


async def _order(shop: Shop, who: Principal, operation: str, request: Message) -> Any:
    with upstream("order", FIELDS):
        return await getattr(shop.backends.order, operation)(request, metadata=who.metadata())


def statuses(values: list[str]) -> list[int]:
    unknown = [value for value in values if value not in STATUSES]
    if unknown:
        raise InvalidArgument([FieldViolation("status", f"must be one of {', '.join(STATUSES)}")])
    return [STATUSES[value] for value in values]


def require_staff(who: Principal) -> None:
    """The staff's routes (/v1/admin/invoices) answer staff only; members read their company's at
    /v1/company/invoices."""
    require_role(who, ADMIN)


async def list_invoices(
    shop: Shop,
    who: Principal,
    *,
    account_id: str,
    status: list[str],
    overdue: bool,
    page_size: int,
    page_token: str,
) -> pb.ListInvoicesResponse:
    """A page of invoices, newest first: the caller's company's (B2B members; `account_id` ignored)
    or, for staff, any account's (empty: every account)."""
    require_role(who, READERS)
    request = pb.ListInvoicesRequest(
        account_id=who.account_id if who.role in B2B_ROLES else account_id,
        statuses=statuses(status),  # type: ignore[arg-type]
        overdue_only=overdue,
        page=common_pb2.PageRequest(page_size=page_size, page_token=page_token),
    )
    response: pb.ListInvoicesResponse = await _order(shop, who, "ListInvoices", request)
    return response


async def get_invoice(shop: Shop, who: Principal, number: str, order_id: str = "") -> pb.Invoice:
    """One invoice by number (or, over gRPC, by its order's id)."""
    require_role(who, READERS)
    request = pb.GetInvoiceRequest(number=number, order_id=order_id)
    with upstream("order", {"number": "number"}):
        response = await shop.backends.order.GetInvoice(request, metadata=who.metadata())
    invoice: pb.Invoice = response.invoice
    return invoice


async def invoice_pdf_of(shop: Shop, who: Principal, number: str) -> bytes:
    return invoice_pdf.render(await get_invoice(shop, who, number), seller=SELLER)


async def record_payment(
    shop: Shop,
    who: Principal,
    number: str,
    *,
    amount: common_pb2.Money,
    reference: str,
    paid_at: datetime | None,
    key: str,
) -> pb.RecordInvoicePaymentResponse:
    """A payment received against an invoice (staff; an integration acts as admin). The same key and
    body again answers the first payment; the same key with another body is 409."""
    require_role(who, ADMIN)
    violations = Violations()
    require_key(violations, key)
    violations.raise_if_any()
    request = pb.RecordInvoicePaymentRequest(number=number, idempotency_key=key, amount=amount, reference=reference)
    if paid_at is not None:
        set_timestamp(request.paid_at, paid_at, "paid_at")
    response: pb.RecordInvoicePaymentResponse = await _order(shop, who, "RecordInvoicePayment", request)
    return response
