"""The saga's pricing calls: QUOTE_PRICES (Quote, then the invoice's credit pre-check and the B2B
approval chain), REDEEM_COUPON and REDEEM_SALES_QUOTE, and their undos (ReleaseCouponRedemption,
ReleaseSalesQuote).
"""

from __future__ import annotations

import grpc

from shop.pricing.v1 import pricing_pb2
from shop_checkout import approvals, credit, quoting
from shop_checkout.domain import rules
from shop_checkout.domain.model import Checkout, FailureCode, Pickup, StepKind
from shop_checkout.domain.outcomes import (
    Compensated,
    CouponRedeemed,
    Failed,
    Outcome,
    Quoted,
    SalesQuoteRedeemed,
    Succeeded,
)
from shop_checkout.peers import PeerError, Peers
from shop_checkout.steps.inventory import pickup_store
from shop_checkout.steps.messages import pickup_message


async def quote_prices(peers: Peers, c: Checkout) -> Outcome:
    fulfilment = c.request.fulfilment
    if isinstance(fulfilment, Pickup):
        location = await pickup_store(peers, fulfilment.store_id)
        if location is None:
            message = pickup_message(fulfilment.store_id)
            return Failed(StepKind.QUOTE_PRICES, FailureCode.PICKUP_UNAVAILABLE, message)
        destination = quoting.pickup_destination(location.address, location.country)
    else:
        destination = quoting.ship_destination(fulfilment)
    request = quoting.quote_request(c.request, c.cart, destination)
    try:
        response = await peers.call("pricing", peers.pricing.Quote, request)
    except PeerError as exc:
        if exc.code is grpc.StatusCode.INVALID_ARGUMENT:
            message = "Some items in the cart cannot be ordered as they are."
            return Failed(StepKind.QUOTE_PRICES, FailureCode.CART_NOT_CHECKOUTABLE, message)
        refused = _quote_refused(c, exc)
        if refused:
            return Failed(StepKind.QUOTE_PRICES, FailureCode.QUOTE_UNAVAILABLE, refused)
        raise
    applied = response.HasField("coupon") and response.coupon.applied
    quote = quoting.quote_from_pb(response, c.cart)
    # Invoice orders: weighed against the account's credit now, before anything is reserved.
    over = await credit.precheck(peers, c, quote.totals.total)
    if over is not None:
        return over
    chain = await approvals.resolve(peers, c, quote.totals.total)
    return Succeeded(
        StepKind.QUOTE_PRICES,
        Quoted(
            quote,
            approval_chain=chain,
            unpriced_skus=tuple(problem.sku for problem in response.problems),
            coupon_applied=applied,
            coupon_reason=response.coupon.reason if response.HasField("coupon") else "",
        ),
    )


async def redeem_coupon(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.REDEEM_COUPON
    assert c.quote is not None
    request = pricing_pb2.RedeemCouponRequest(
        code=c.quote.coupon_code, customer_id=rules.coupon_customer(c.request), idempotency_key=c.checkout_id
    )
    try:
        await peers.call("pricing", peers.pricing.RedeemCoupon, request)
    except PeerError as exc:
        if exc.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
            why = exc.reason.removeprefix("COUPON_").lower().replace("_", " ")
            message = f"The coupon {c.quote.coupon_code} can no longer be used ({why})."
            return Failed(kind, FailureCode.COUPON_UNAVAILABLE, message)
        raise
    return Succeeded(kind, CouponRedeemed())


async def redeem_sales_quote(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.REDEEM_SALES_QUOTE
    request = pricing_pb2.RedeemSalesQuoteRequest(
        quote_id=c.request.sales_quote_id,
        checkout_id=c.checkout_id,
        account_id=c.request.customer.account_id,
    )
    try:
        await peers.call("pricing", peers.pricing.RedeemSalesQuote, request)
    except PeerError as exc:
        refused = _quote_refused(c, exc)
        if refused:
            return Failed(kind, FailureCode.QUOTE_UNAVAILABLE, refused)
        raise
    return Succeeded(kind, SalesQuoteRedeemed())


async def release_coupon(peers: Peers, c: Checkout) -> Outcome:
    # Also for a redemption whose outcome is unknown: releasing an unknown key leaves a tombstone
    # that makes a late redemption with it fail.
    request = pricing_pb2.ReleaseCouponRedemptionRequest(idempotency_key=c.checkout_id)
    await peers.call("pricing", peers.pricing.ReleaseCouponRedemption, request)
    return Compensated(StepKind.REDEEM_COUPON, note="coupon use given back")


async def release_sales_quote(peers: Peers, c: Checkout) -> Outcome:
    # As for coupons: releasing a checkout that redeemed nothing leaves a tombstone in pricing.
    request = pricing_pb2.ReleaseSalesQuoteRequest(checkout_id=c.checkout_id)
    await peers.call("pricing", peers.pricing.ReleaseSalesQuote, request)
    return Compensated(StepKind.REDEEM_SALES_QUOTE, note="sales quote accepted again")


def _quote_refused(c: Checkout, exc: PeerError) -> str:
    """The customer's message when pricing refused the checkout's sales quote; empty for other errors."""
    if not c.request.sales_quote_id:
        return ""
    if exc.code is grpc.StatusCode.NOT_FOUND:
        return f"The quote {c.request.sales_quote_id} was not found for your account."
    if exc.code is grpc.StatusCode.FAILED_PRECONDITION and exc.reason.startswith("QUOTE_"):
        return f"The quote cannot be ordered: {exc.info.message}"
    return ""
