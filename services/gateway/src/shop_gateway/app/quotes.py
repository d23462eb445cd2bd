"""B2B sales quotes (request for quote), held by the pricing service: the buyers' and the sales users'
use cases. A buyer asks for a quote on their cart (the gateway reads its lines), asks for revisions,
accepts or declines; a sales user (role `sales`, or an admin) answers with offers. Pricing checks
the roles again and shows a buyer only their account's quotes (another account's: 404).

A quote is ordered through the ordinary checkout, with `quote_id` (see app.checkout)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from shop.cart.v1 import cart_pb2
from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shop_gateway.app import cart as carts
from shop_gateway.app.access import require_role
from shop_gateway.app.backoffice.common import IDEMPOTENCY_FIELD, require_key
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import set_timestamp
from shop_gateway.principal import B2B_ROLES, Principal
from shopkit.errors import FieldViolation, InvalidArgument, NotFound, Violations

SALES_ROLES = ("sales", "admin")
# The pricing service's field paths in the API's terms.
FIELDS = {"request_id": IDEMPOTENCY_FIELD, "page.page_token": "page_token", "page.page_size": "page_size"}
STATUSES = {
    name.removeprefix("SALES_QUOTE_STATUS_").lower(): number
    for name, number in pb.SalesQuoteStatus.items()
    if number != pb.SALES_QUOTE_STATUS_UNSPECIFIED
}


# Who may call each of pricing's quote operations through the gateway (pricing checks again).
ROLES: dict[str, tuple[str, ...]] = {
    "RequestSalesQuoteRevision": B2B_ROLES,
    "AcceptSalesQuote": B2B_ROLES,
    "DeclineSalesQuote": (*B2B_ROLES, *SALES_ROLES),
    "GetSalesQuote": (*B2B_ROLES, *SALES_ROLES),
    "ListSalesQuotes": (*B2B_ROLES, *SALES_ROLES),
    "OfferSalesQuote": SALES_ROLES,
}


async def _pricing(shop: Shop, who: Principal, operation: str, request: Message) -> Any:
    with upstream("pricing", FIELDS):
        return await getattr(shop.backends.pricing, operation)(request, metadata=who.metadata())


async def call(shop: Shop, who: Principal, operation: str, request: Message) -> Any:
    """`operation` with pricing's own request (the gRPC QuotesService), for the roles ROLES admits."""
    require_role(who, ROLES[operation])
    return await _pricing(shop, who, operation, request)


def statuses(values: list[str]) -> list[int]:
    unknown = [value for value in values if value not in STATUSES]
    if unknown:
        raise InvalidArgument([FieldViolation("status", f"must be one of {', '.join(STATUSES)}")])
    return [STATUSES[value] for value in values]


# --- buyers ---------------------------------------------------------------------------------------


async def request_quote(shop: Shop, who: Principal, *, cart_id: str, note: str, key: str) -> pb.SalesQuote:
    """A quote on the caller's cart (the active one when `cart_id` is empty), at its lines' quantities."""
    require_role(who, B2B_ROLES)
    violations = Violations()
    require_key(violations, key)
    violations.raise_if_any()
    found: cart_pb2.Cart | None
    if cart_id:
        with upstream("cart", {"cart_id": "cart_id"}):
            reply = await shop.backends.cart.GetCart(cart_pb2.GetCartRequest(cart_id=cart_id), metadata=who.metadata())
        found = reply.cart
    else:
        found = await carts.active_cart(shop, who)
    if found is None or found.status != cart_pb2.CART_STATUS_ACTIVE:
        raise NotFound("cart", cart_id or "active")
    if not found.lines:
        raise InvalidArgument([FieldViolation("cart_id", "the cart has no lines to quote")])
    context = shop.customer_context(who)
    context.currency = found.context.currency or context.currency
    request = pb.RequestSalesQuoteRequest(
        request_id=key,
        cart_id=found.cart_id,
        lines=[pb.QuoteLine(sku=line.sku, quantity=line.quantity) for line in found.lines],
        context=context,
        note=note,
    )
    quote: pb.SalesQuote = (await _pricing(shop, who, "RequestSalesQuote", request)).quote
    return quote


async def _current_version(shop: Shop, who: Principal, quote_id: str, version: int) -> int:
    """The version a change answers: the one the client names, or (0) the quote's current one."""
    if version:
        return version
    return int((await get_quote(shop, who, quote_id)).current_version)


@dataclass(frozen=True)
class Revision:
    version: int = 0  # 0: the current one
    note: str = ""
    quantities: tuple[tuple[str, int], ...] = ()


async def request_revision(shop: Shop, who: Principal, quote_id: str, revision: Revision) -> pb.SalesQuote:
    require_role(who, B2B_ROLES)
    request = pb.RequestSalesQuoteRevisionRequest(
        quote_id=quote_id,
        version=await _current_version(shop, who, quote_id, revision.version),
        note=revision.note,
        lines=[pb.RevisedLine(sku=sku, quantity=quantity) for sku, quantity in revision.quantities],
    )
    quote: pb.SalesQuote = (await _pricing(shop, who, "RequestSalesQuoteRevision", request)).quote
    return quote


async def accept(shop: Shop, who: Principal, quote_id: str, version: int) -> pb.SalesQuote:
    """Accepting needs the version the buyer saw: an offer that changed meanwhile is 409 QUOTE_VERSION_STALE."""
    require_role(who, B2B_ROLES)
    request = pb.AcceptSalesQuoteRequest(quote_id=quote_id, version=version)
    quote: pb.SalesQuote = (await _pricing(shop, who, "AcceptSalesQuote", request)).quote
    return quote


async def decline(shop: Shop, who: Principal, quote_id: str, note: str) -> pb.SalesQuote:
    require_role(who, (*B2B_ROLES, *SALES_ROLES))
    request = pb.DeclineSalesQuoteRequest(quote_id=quote_id, note=note)
    quote: pb.SalesQuote = (await _pricing(shop, who, "DeclineSalesQuote", request)).quote
    return quote


async def get_quote(shop: Shop, who: Principal, quote_id: str) -> pb.SalesQuote:
    require_role(who, (*B2B_ROLES, *SALES_ROLES))
    quote: pb.SalesQuote = (
        await _pricing(shop, who, "GetSalesQuote", pb.GetSalesQuoteRequest(quote_id=quote_id))
    ).quote
    return quote


def require_sales(who: Principal) -> None:
    """The sales side's routes (/v1/admin/quotes) answer sales users and admins only; buyers read their
    account's quotes at /v1/quotes."""
    require_role(who, SALES_ROLES)


async def list_quotes(
    shop: Shop, who: Principal, *, status: list[str], account_id: str, page_size: int, page_token: str
) -> pb.ListSalesQuotesResponse:
    """A buyer's account's quotes; a sales user's of every account (or of `account_id`)."""
    require_role(who, (*B2B_ROLES, *SALES_ROLES))
    request = pb.ListSalesQuotesRequest(account_id=account_id)
    request.statuses.extend(statuses(status))  # type: ignore[arg-type]  # enum numbers
    request.page.page_size = page_size
    request.page.page_token = page_token
    response: pb.ListSalesQuotesResponse = await _pricing(shop, who, "ListSalesQuotes", request)
    return response


# --- sales users ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    prices: tuple[tuple[str, int, str], ...]  # sku, amount, currency
    expires_at: datetime
    version: int = 0  # 0: the current one
    note: str = ""


async def offer(shop: Shop, who: Principal, quote_id: str, offer: Offer) -> pb.SalesQuote:
    require_role(who, SALES_ROLES)
    request = pb.OfferSalesQuoteRequest(
        quote_id=quote_id,
        version=await _current_version(shop, who, quote_id, offer.version),
        lines=[
            pb.OfferedPrice(sku=sku, unit_price=common_pb2.Money(amount=amount, currency=currency))
            for sku, amount, currency in offer.prices
        ],
        note=offer.note,
    )
    set_timestamp(request.expires_at, offer.expires_at, "expires_at")
    quote: pb.SalesQuote = (await _pricing(shop, who, "OfferSalesQuote", request)).quote
    return quote
