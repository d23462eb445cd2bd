"""B2B invoices over HTTP: /v1/company/invoices for a company's members, /v1/invoices/{number} as JSON
or as a PDF (`Accept: application/pdf`, or /v1/invoices/{number}.pdf), and /v1/admin/invoices for
staff and integrations (scopes invoices:read, invoices:write): every account's invoices, overdue
ones, and the payments received against them (Idempotency-Key required)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Header, Query, Response
from pydantic import Field

from shop.common.v1 import common_pb2
from shop_gateway.app import invoices
from shop_gateway.httpapi.backoffice.common import IdempotencyKey, PageSize, PageToken, router
from shop_gateway.httpapi.backoffice.pricing_models import Resource
from shop_gateway.httpapi.deps import ShopDep, SignedIn
from shop_gateway.httpapi.schemas import AddressBody, MoneyBody

own_invoices = router("/v1/company/invoices", "invoices (B2B)")
invoice_documents = router("/v1/invoices", "invoices (B2B)")
admin_invoices = router("/v1/admin/invoices", "back office: invoices")

PDF = "application/pdf"
StatusFilter = Annotated[list[str] | None, Query(description="open, paid or void; repeatable")]
Overdue = Annotated[bool, Query(description="only open invoices past their due date")]
Number = Annotated[str, Field(description="e.g. INV-000123")]
PDF_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}, "description": "the invoice"}
}


class InvoiceLine(Resource):
    sku: str
    name: str
    quantity: int
    unit_price: MoneyBody
    discount: MoneyBody
    line_total: MoneyBody = Field(description="unit_price * quantity - discount")
    tax: MoneyBody


class InvoiceTotals(Resource):
    subtotal: MoneyBody
    discount_total: MoneyBody
    shipping_total: MoneyBody
    tax_total: MoneyBody
    total: MoneyBody
    tax_included: bool


class Actor(Resource):
    role: str
    id: str


class InvoicePayment(Resource):
    payment_id: str
    amount: MoneyBody
    reference: str
    paid_at: str | None
    recorded_at: str | None
    recorded_by: Actor | None


class Invoice(Resource):
    number: Number
    account_id: str
    customer_id: str = Field(description="the buyer who placed the order")
    order_id: str
    order_number: str
    status: str = Field(description="open, paid or void (its order was cancelled)")
    overdue: bool = Field(description="open and past due_at")
    issued_at: str | None
    due_at: str | None = Field(description="issued_at plus the account's payment terms")
    payment_terms_days: int
    currency: str
    lines: list[InvoiceLine]
    totals: InvoiceTotals | None
    billing_address: AddressBody | None
    purchase_order_number: str
    amount_paid: MoneyBody | None
    credited: MoneyBody | None = Field(description="refunds of the order, credited to the invoice")
    balance: MoneyBody | None = Field(description="what is still owed: total - amount_paid - credited")
    payments: list[InvoicePayment] = Field(description="oldest first; empty in lists")


class InvoicePage(Resource):
    invoices: list[Invoice]
    next_page_token: str


class NewPayment(Resource):
    amount: MoneyBody = Field(description="in the invoice's currency, at most its balance")
    reference: str = Field("", max_length=200, description="the bank transfer's or the ERP's reference")
    paid_at: datetime | None = Field(None, description="when the money arrived; default: now")


class RecordedPayment(Resource):
    invoice: Invoice
    payment: InvoicePayment


async def _page(
    shop: ShopDep, who: SignedIn, account_id: str, status: list[str] | None, overdue: bool, size: int, token: str
) -> InvoicePage:
    response = await invoices.list_invoices(
        shop, who, account_id=account_id, status=status or [], overdue=overdue, page_size=size, page_token=token
    )
    return InvoicePage(
        invoices=[Invoice.of(invoice) for invoice in response.invoices],
        next_page_token=response.page.next_page_token,
    )


def _pdf(number: str, content: bytes) -> Response:
    disposition = f'inline; filename="{number}.pdf"'
    return Response(content=content, media_type=PDF, headers={"Content-Disposition": disposition})


# --- a company's members -----------------------------------------------------------------------------


@own_invoices.get("", summary="The caller's company's invoices, newest first (B2B members)")
async def list_own_invoices(
    shop: ShopDep,
    who: SignedIn,
    status: StatusFilter = None,
    overdue: Overdue = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> InvoicePage:
    return await _page(shop, who, "", status, overdue, page_size, page_token)


@invoice_documents.get("/{number}.pdf", summary="An invoice as a PDF", responses=PDF_RESPONSE)
async def get_invoice_pdf(number: str, shop: ShopDep, who: SignedIn) -> Response:
    return _pdf(number, await invoices.invoice_pdf_of(shop, who, number))


@invoice_documents.get(
    "/{number}",
    response_model=Invoice,
    summary="An invoice (its company's members, staff): JSON, or a PDF with Accept: application/pdf",
    responses={200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def get_invoice(
    number: str, shop: ShopDep, who: SignedIn, accept: Annotated[str, Header()] = ""
) -> Invoice | Response:
    if PDF in accept.lower():
        return _pdf(number, await invoices.invoice_pdf_of(shop, who, number))
    return Invoice.of(await invoices.get_invoice(shop, who, number))


# --- staff and integrations ---------------------------------------------------------------------------


@admin_invoices.get("", summary="Invoices of any account, newest first (staff; scope invoices:read)")
async def list_admin_invoices(
    shop: ShopDep,
    who: SignedIn,
    account_id: Annotated[str, Query(max_length=128, description="one account's; empty: every account's")] = "",
    status: StatusFilter = None,
    overdue: Overdue = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> InvoicePage:
    invoices.require_staff(who)
    return await _page(shop, who, account_id, status, overdue, page_size, page_token)


@admin_invoices.post(
    "/{number}/payments",
    status_code=201,
    summary="Record a payment received against an invoice (staff; scope invoices:write; Idempotency-Key required)",
)
async def record_invoice_payment(
    number: str, body: NewPayment, shop: ShopDep, who: SignedIn, key: IdempotencyKey = None
) -> RecordedPayment:
    """The same key and body again answers the first payment; the same key with another body is 409
    REQUEST_ID_REUSED. More than the balance is 409 INVOICE_OVERPAID; another currency 409
    INVOICE_CURRENCY_MISMATCH; a paid or void invoice 409 INVOICE_NOT_OPEN."""
    response = await invoices.record_payment(
        shop,
        who,
        number,
        amount=common_pb2.Money(amount=body.amount.amount, currency=body.amount.currency),
        reference=body.reference,
        paid_at=body.paid_at,
        key=key or "",
    )
    return RecordedPayment(invoice=Invoice.of(response.invoice), payment=InvoicePayment.of(response.payment))
