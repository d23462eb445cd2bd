"""Ordering a sales quote (mixed into the PricingService servicer): checkout's Quote at the accepted
quote's prices, and its redemption and release — one order per quote, as a coupon's use is one per
checkout (RedeemCoupon / ReleaseCouponRedemption)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc

from shop.pricing.v1 import pricing_pb2
from shop_pricing import mapping
from shop_pricing import sales_quote_mapping as sqm
from shop_pricing.domain import sales_quotes as domain
from shop_pricing.domain.promotions import PricedLine, QuoteTotals, apply_promotions
from shop_pricing.domain.sales_quotes import QuoteRefused, SalesQuote, Status
from shop_pricing.domain.selection import BasePrice, CustomerScope, PriceSource, SelectedPrice
from shop_pricing.store import sales_quotes as quote_store
from shopkit.auth import require_role
from shopkit.db import Database
from shopkit.errors import FailedPrecondition, NotFound, Violations
from shopkit.money import Money

Context = grpc.aio.ServicerContext[Any, Any]


class SalesQuoteOrders:
    """RedeemSalesQuote, ReleaseSalesQuote (checkout's), and the pricing of a Quote with sales_quote_id."""

    db: Database

    async def RedeemSalesQuote(
        self, request: pricing_pb2.RedeemSalesQuoteRequest, context: Context
    ) -> pricing_pb2.RedeemSalesQuoteResponse:
        require_role(context)
        violations = Violations()
        sqm.check_quote_id(request.quote_id, violations)
        mapping.check_key(request.checkout_id, "checkout_id", violations)
        violations.raise_if_any()
        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            quote = await quote_store.get(conn, request.quote_id, lock=True)
            if quote is None or (request.account_id and quote.account_id != request.account_id):
                raise NotFound("sales_quote", request.quote_id)
            earlier = await quote_store.redemption(conn, request.checkout_id)
            if earlier is not None and earlier.status == "released":
                raise FailedPrecondition(
                    f"checkout {request.checkout_id} released its quote", reason="QUOTE_REDEMPTION_RELEASED"
                )
            if earlier is not None or (quote.status is Status.ORDERED and quote.checkout_id == request.checkout_id):
                return pricing_pb2.RedeemSalesQuoteResponse(quote=sqm.quote_to_pb(quote, now))  # a replay
            try:
                domain.orderable(quote, now)
            except QuoteRefused as error:
                raise sqm.refused(error, quote) from None
            await quote_store.record_redemption(conn, request.checkout_id, quote.quote_id, now)
            quote = await quote_store.set_state(
                conn, quote.quote_id, now, status=Status.ORDERED, checkout_id=request.checkout_id
            )
        return pricing_pb2.RedeemSalesQuoteResponse(quote=sqm.quote_to_pb(quote, now))

    async def ReleaseSalesQuote(
        self, request: pricing_pb2.ReleaseSalesQuoteRequest, context: Context
    ) -> pricing_pb2.ReleaseSalesQuoteResponse:
        require_role(context)
        violations = Violations()
        mapping.check_key(request.checkout_id, "checkout_id", violations)
        violations.raise_if_any()
        now = datetime.now(UTC)
        response = pricing_pb2.ReleaseSalesQuoteResponse()
        async with self.db.transaction() as conn:
            quote_id = await quote_store.record_release(conn, request.checkout_id, now)
            if quote_id is None:
                return response  # nothing redeemed (a tombstone now stops a late redemption), or released before
            quote = await quote_store.get(conn, quote_id, lock=True)
            assert quote is not None
            if quote.status is Status.ORDERED and quote.checkout_id == request.checkout_id:
                quote = await quote_store.set_state(conn, quote_id, now, status=Status.ACCEPTED, checkout_id="")
            response.quote.CopyFrom(sqm.quote_to_pb(quote, now))
        return response

    # --- Quote at a sales quote's prices -----------------------------------------------------------

    async def priced_by_sales_quote(
        self, quote_id: str, lines: list[tuple[str, int]], customer: CustomerScope, now: datetime
    ) -> tuple[QuoteTotals, SalesQuote]:
        """The basket priced at the accepted quote's unit prices, without promotions or coupons (the
        negotiated price is the whole deal). The basket must be the quote's, line for line."""
        async with self.db.connect() as conn:
            quote = await quote_store.get(conn, quote_id)
        if quote is None or quote.account_id != customer.account_id:
            raise NotFound("sales_quote", quote_id)
        try:
            domain.orderable(quote, now)
        except QuoteRefused as error:
            raise sqm.refused(error, quote) from None
        if quote.currency != customer.currency:
            raise FailedPrecondition(
                f"quote {quote.number} is in {quote.currency}, the basket in {customer.currency}",
                reason="QUOTE_MISMATCH",
            )
        differences = domain.mismatches(quote, lines)
        if differences:
            raise FailedPrecondition(
                f"the basket is not quote {quote.number}'s: {'; '.join(differences)}",
                reason="QUOTE_MISMATCH",
                metadata={"quote_id": quote.quote_id, "lines": "; ".join(differences)},
            )
        prices = {line.sku: line.unit_amount or 0 for line in quote.current.lines}
        priced = []
        for index, (sku, quantity) in enumerate(lines):
            unit = Money(prices[sku], quote.currency)
            price = SelectedPrice(sku, quantity, unit, BasePrice(sku, unit), PriceSource.BASE)
            priced.append(PricedLine(index, price, quantity))
        return apply_promotions(quote.currency, priced, (), None, now), quote


def mark_sales_quote(response: pricing_pb2.QuoteResponse, quote: SalesQuote) -> None:
    """Each line's reason names the quote its price came from."""
    for line in response.lines:
        line.reason.source = pricing_pb2.PRICE_SOURCE_SALES_QUOTE
        line.reason.description = f"sales quote {quote.number}, version {quote.current_version}"
