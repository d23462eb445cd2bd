"""An invoice as a PDF document (fpdf2): the order service's Invoice as a buyer's accounts-payable
clerk expects it — number, dates, terms, PO number, billing address, lines with tax, totals, what was
paid and credited, and the balance due.

The built-in PDF fonts speak Latin-1 only: text outside it (a name in another script) is printed with
'?' for what it cannot show, rather than failing the download; amounts carry the ISO currency code.
"""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shopkit.money import minor_units

FONT = "Helvetica"
STATUS = {
    order_pb2.INVOICE_STATUS_OPEN: "OPEN",
    order_pb2.INVOICE_STATUS_PAID: "PAID",
    order_pb2.INVOICE_STATUS_VOID: "VOID",
}


def _text(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def _money(value: common_pb2.Money) -> str:
    digits = minor_units(value.currency) if value.currency else 2
    return f"{value.amount / 10**digits:,.{digits}f} {value.currency}"


def _date(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%d")


def _address(address: common_pb2.Address) -> list[str]:
    city = " ".join(part for part in (address.postal_code, address.city) if part)
    lines = [address.name, address.line1, address.line2, city, address.region, address.country]
    return [line for line in lines if line]


def render(invoice: order_pb2.Invoice, *, seller: str) -> bytes:
    """The invoice as PDF bytes."""
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Invoice {invoice.number}"))
    pdf.set_author(_text(seller))
    pdf.set_creation_date(invoice.issued_at.ToDatetime())
    pdf.add_page()
    pdf.set_font(FONT, "B", 18)
    pdf.cell(0, 10, _text(f"Invoice {invoice.number}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    status = STATUS.get(invoice.status, "")
    if invoice.overdue:
        status += " - OVERDUE"
    facts = [
        ("Seller", seller),
        ("Issued", _date(invoice.issued_at.ToDatetime())),
        ("Due", f"{_date(invoice.due_at.ToDatetime())} (net {invoice.payment_terms_days} days)"),
        ("Order", invoice.order_number),
        ("Purchase order", invoice.purchase_order_number or "-"),
        ("Account", invoice.account_id),
        ("Status", status),
    ]
    for label, value in facts:
        pdf.set_font(FONT, "B", 10)
        pdf.cell(40, 6, _text(label))
        pdf.set_font(FONT, "", 10)
        pdf.cell(0, 6, _text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "Bill to", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    for line in _address(invoice.billing_address):
        pdf.cell(0, 5, _text(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    _lines(pdf, invoice)
    pdf.ln(4)
    _totals(pdf, invoice)
    return bytes(pdf.output())


def _lines(pdf: FPDF, invoice: order_pb2.Invoice) -> None:
    pdf.set_font(FONT, "", 9)
    widths = (30, 62, 14, 28, 22, 34)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(["SKU", "Item", "Qty", "Unit price", "Tax", "Line total"])
        for line in invoice.lines:
            table.row(
                [
                    _text(line.sku),
                    _text(line.name),
                    str(line.quantity),
                    _money(line.unit_price),
                    _money(line.tax),
                    _money(line.line_total),
                ]
            )


def _totals(pdf: FPDF, invoice: order_pb2.Invoice) -> None:
    totals = invoice.totals
    rows = [("Subtotal", totals.subtotal)]
    if totals.discount_total.amount:
        rows.append(("Discounts", common_pb2.Money(amount=-totals.discount_total.amount, currency=invoice.currency)))
    rows.append(("Shipping", totals.shipping_total))
    rows.append(("Tax (included)" if totals.tax_included else "Tax", totals.tax_total))
    rows.append(("Total", totals.total))
    rows.append(("Paid", invoice.amount_paid))
    if invoice.credited.amount:
        rows.append(("Credited", invoice.credited))
    rows.append(("Balance due", invoice.balance))
    for label, value in rows:
        bold = label in ("Total", "Balance due")
        pdf.set_font(FONT, "B" if bold else "", 10)
        pdf.cell(150, 6, label, align="R")
        pdf.cell(40, 6, _money(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
