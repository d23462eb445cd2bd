"""B2B invoices over gRPC (shop.storefront.v1.InvoicesService): the use cases of the /v1/company/invoices,
/v1/invoices and /v1/admin/invoices routes (app.invoices), in the order service's own messages."""

from __future__ import annotations

from datetime import UTC

from shop.order.v1 import order_pb2 as pb
from shop.storefront.v1 import invoices_pb2, invoices_pb2_grpc
from shop_gateway.app import invoices
from shop_gateway.gateway import Gateway
from shop_gateway.grpcapi import Context, StorefrontServicer
from shopkit.errors import FieldViolation, InvalidArgument


class InvoicesServicer(invoices_pb2_grpc.InvoicesServiceServicer):
    def __init__(self, gateway: Gateway):
        self.shop = gateway.shop
        self.edge = StorefrontServicer(gateway)  # authentication, scopes, rate limits and buying context as there

    async def ListInvoices(self, request: pb.ListInvoicesRequest, context: Context) -> pb.ListInvoicesResponse:
        who, _ = await self.edge._admit(context)
        return await invoices.list_invoices(
            self.shop,
            who,
            account_id=request.account_id,
            status=[invoices.STATUS_NAMES.get(s, str(s)) for s in request.statuses],
            overdue=request.overdue_only,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )

    async def GetInvoice(self, request: pb.GetInvoiceRequest, context: Context) -> pb.GetInvoiceResponse:
        who, _ = await self.edge._admit(context)
        invoice = await invoices.get_invoice(self.shop, who, request.number, request.order_id)
        return pb.GetInvoiceResponse(invoice=invoice)

    async def GetInvoicePdf(
        self, request: invoices_pb2.GetInvoicePdfRequest, context: Context
    ) -> invoices_pb2.InvoicePdf:
        who, _ = await self.edge._admit(context)
        content = await invoices.invoice_pdf_of(self.shop, who, request.number)
        return invoices_pb2.InvoicePdf(content=content, filename=f"{request.number}.pdf")

    async def RecordInvoicePayment(
        self, request: pb.RecordInvoicePaymentRequest, context: Context
    ) -> pb.RecordInvoicePaymentResponse:
        who, _ = await self.edge._admit(context)
        paid_at = None
        if request.HasField("paid_at"):
            try:
                paid_at = request.paid_at.ToDatetime(tzinfo=UTC)
            except ValueError:
                raise InvalidArgument([FieldViolation("paid_at", "is not a valid timestamp")]) from None
        return await invoices.record_payment(
            self.shop,
            who,
            request.number,
            amount=request.amount,
            reference=request.reference,
            paid_at=paid_at,
            key=request.idempotency_key,
        )
