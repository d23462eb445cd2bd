"""A checkout with a sales quote: the cart's lines are priced at the accepted quote's prices, the
quote is redeemed like a coupon (one order per quote) and given back when the checkout fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from shop.cart.v1 import cart_pb2
from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Buyer, Shop

C = checkout_pb2
SALES = metadata_for("sales", customer_id="seller-1")


def states(checkout: checkout_pb2.Checkout) -> dict[str, str]:
    return {
        C.CheckoutStepKind.Name(s.kind).removeprefix("CHECKOUT_STEP_KIND_").lower(): C.StepState.Name(s.state)
        .removeprefix("STEP_STATE_")
        .lower()
        for s in checkout.steps
    }


async def accepted_quote(shop: Shop, buyer: Buyer, cart_id: str, prices: dict[str, int]) -> pricing_pb2.SalesQuote:
    """The buyer asks for a quote on the cart's lines, a sales user offers `prices`, the buyer accepts."""
    cart = await shop.cart.GetCart(cart_pb2.GetCartRequest(cart_id=cart_id), metadata=buyer.metadata)
    requested = await shop.pricing.RequestSalesQuote(
        pricing_pb2.RequestSalesQuoteRequest(
            request_id=shop.unique("rfq"),
            cart_id=cart_id,
            lines=[pricing_pb2.QuoteLine(sku=line.sku, quantity=line.quantity) for line in cart.cart.lines],
            context=common_pb2.CustomerContext(currency="USD"),
        ),
        metadata=buyer.metadata,
    )
    expires = Timestamp()
    expires.FromDatetime(datetime.now(UTC) + timedelta(days=7))
    offered = await shop.pricing.OfferSalesQuote(
        pricing_pb2.OfferSalesQuoteRequest(
            quote_id=requested.quote.quote_id,
            version=1,
            lines=[
                pricing_pb2.OfferedPrice(sku=sku, unit_price=common_pb2.Money(amount=amount, currency="USD"))
                for sku, amount in prices.items()
            ],
            expires_at=expires,
        ),
        metadata=SALES,
    )
    accepted = await shop.pricing.AcceptSalesQuote(
        pricing_pb2.AcceptSalesQuoteRequest(quote_id=offered.quote.quote_id, version=2), metadata=buyer.metadata
    )
    quote: pricing_pb2.SalesQuote = accepted.quote
    return quote


async def quote_status(shop: Shop, quote_id: str) -> int:
    response = await shop.pricing.GetSalesQuote(pricing_pb2.GetSalesQuoteRequest(quote_id=quote_id), metadata=SALES)
    status: int = response.quote.status
    return status


async def test_the_order_carries_the_quoted_prices_and_a_second_checkout_is_refused(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=1000, stock=20)
    coupon = await shop.coupon(percent_bp=5000)
    cart_id = await shop.new_cart(buyer, {sku: 3}, coupon=coupon)
    quote = await accepted_quote(shop, buyer, cart_id, {sku: 800})

    placed = await shop.place(
        shop.request(cart_id, buyer, payment_method=await shop.card(), sales_quote_id=quote.quote_id), buyer
    )

    assert placed.status == C.CHECKOUT_STATUS_COMPLETED, placed
    checkout = await shop.checkout(placed.checkout_id)
    assert states(checkout)["redeem_sales_quote"] == "succeeded" and states(checkout)["redeem_coupon"] == "skipped"
    assert checkout.totals.total.amount == 2400 and checkout.totals.discount_total.amount == 0  # no coupon on top
    order = await shop.get_order(placed.order_id)
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in order.lines] == [(sku, 3, 800)]
    assert order.sales_quote_id == quote.quote_id
    assert await quote_status(shop, quote.quote_id) == pricing_pb2.SALES_QUOTE_STATUS_ORDERED

    again = await shop.place(
        shop.request(
            await shop.new_cart(buyer, {sku: 3}), buyer, payment_method=await shop.card(), sales_quote_id=quote.quote_id
        ),
        buyer,
    )
    assert again.status == C.CHECKOUT_STATUS_FAILED
    assert (again.failure.code, again.failure.step) == (
        C.FAILURE_CODE_QUOTE_UNAVAILABLE,
        C.CHECKOUT_STEP_KIND_QUOTE_PRICES,
    )
    assert "already ordered" in again.failure.message


async def test_a_failed_checkout_gives_the_quote_back(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=1000, stock=20)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    quote = await accepted_quote(shop, buyer, cart_id, {sku: 900})
    declined = shop.request(
        cart_id, buyer, payment_method=await shop.card(shop.CARD_NO_FUNDS), sales_quote_id=quote.quote_id
    )

    placed = await shop.place(declined, buyer)

    assert placed.status == C.CHECKOUT_STATUS_FAILED and placed.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED
    assert states(await shop.checkout(placed.checkout_id))["redeem_sales_quote"] == "compensated"
    assert await quote_status(shop, quote.quote_id) == pricing_pb2.SALES_QUOTE_STATUS_ACCEPTED
    retried = shop.request(cart_id, buyer, payment_method=await shop.card(), sales_quote_id=quote.quote_id)
    assert (await shop.place(retried, buyer)).status == C.CHECKOUT_STATUS_COMPLETED


async def test_a_cart_that_is_not_the_quotes_is_refused_naming_the_line(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=1000, stock=20)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    quote = await accepted_quote(shop, buyer, cart_id, {sku: 900})
    colleague = shop.b2b_buyer(buyer.account_id)  # the account's quote, another buyer's cart
    other_cart = await shop.new_cart(colleague, {sku: 5})

    placed = await shop.place(
        shop.request(other_cart, colleague, payment_method=await shop.card(), sales_quote_id=quote.quote_id), colleague
    )

    assert placed.status == C.CHECKOUT_STATUS_FAILED and placed.failure.code == C.FAILURE_CODE_QUOTE_UNAVAILABLE
    assert f"{sku}: quantity 5, quoted 2" in placed.failure.message
    assert await quote_status(shop, quote.quote_id) == pricing_pb2.SALES_QUOTE_STATUS_ACCEPTED
