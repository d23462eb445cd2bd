"""B2B sales quotes over HTTP: /v1/quotes for an account's buyers (request on a cart, revise, accept,
decline) and /v1/admin/quotes for sales users (role `sales`) and admins (the queue, offers). Pricing
holds them (app.quotes); a quote is ordered with POST /v1/checkout {"quote_id"}.

Every request, offer and revision is a version of the quote, all kept (`versions`, oldest first)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import Field

from shop.pricing.v1 import pricing_pb2 as pb
from shop_gateway.app import quotes
from shop_gateway.app.validation import MAX_INT32
from shop_gateway.httpapi.backoffice.common import Id, IdempotencyKey, PageSize, PageToken, Text, router
from shop_gateway.httpapi.backoffice.pricing_models import OUTPUT, Resource
from shop_gateway.httpapi.deps import ShopDep, SignedIn
from shop_gateway.httpapi.schemas import MoneyBody

buyer_quotes = router("/v1/quotes", "quotes (B2B buyers)")
sales_quotes = router("/v1/admin/quotes", "quotes (sales)")

StatusFilter = Annotated[
    list[str] | None,
    Query(description="requested, offered, accepted, ordered, declined or expired; repeatable"),
]
Version = Annotated[
    int, Field(ge=0, le=MAX_INT32, description="the version this answers (the current one); 0: the current")
]


class QuoteLine(Resource):
    sku: str
    quantity: int
    unit_price: MoneyBody | None = Field(
        description="an offer's negotiated price; a request's: the buyer's price when asked (null: none)"
    )


class QuoteVersion(Resource):
    version: int
    kind: str = Field(description="request, offer or revision")
    lines: list[QuoteLine]
    note: str
    author_id: str
    author_role: str
    created_at: str | None = Field(None, description=OUTPUT)
    expires_at: str | None = Field(description="offers: until when it may be accepted and ordered")
    total: MoneyBody


class Quote(Resource):
    quote_id: str
    number: str = Field(description='e.g. "Q-000001"')
    account_id: str
    buyer_id: str
    currency: str
    status: str = Field(description="requested, offered, accepted, ordered, declined or expired")
    current_version: int
    expires_at: str | None = Field(description="the current offer's expiry")
    cart_id: str
    checkout_id: str = Field(description="ordered: the checkout that ordered it")
    versions: list[QuoteVersion] = Field(description="oldest first (lists: the current one only)")
    created_at: str | None = Field(None, description=OUTPUT)
    updated_at: str | None = Field(None, description=OUTPUT)


class QuotePage(Resource):
    quotes: list[Quote]
    next_page_token: str


class NewQuote(Resource):
    cart_id: Id = Field("", description="the caller's cart; empty: their active cart")
    note: Text = ""


class RevisedLine(Resource):
    sku: Id
    quantity: int = Field(ge=0, le=1_000_000, description="0 drops the line")


class RevisionRequest(Resource):
    version: Version = 0
    note: Text = ""
    lines: list[RevisedLine] = Field(default_factory=list, max_length=500, description="new quantities; others stay")


class Acceptance(Resource):
    version: int = Field(ge=1, le=MAX_INT32, description="the offered version accepted (must be the current one)")


class Declination(Resource):
    note: Text = ""


class OfferedLine(Resource):
    sku: Id
    unit_price: MoneyBody


class NewOffer(Resource):
    version: Version = 0
    lines: list[OfferedLine] = Field(max_length=500, description="a unit price for every requested line")
    expires_at: datetime = Field(description="RFC 3339, in the future, at most 90 days ahead")
    note: Text = ""


def _page(response: pb.ListSalesQuotesResponse) -> QuotePage:
    return QuotePage(quotes=[Quote.of(q) for q in response.quotes], next_page_token=response.page.next_page_token)


# --- buyers -----------------------------------------------------------------------------------------


@buyer_quotes.post("", status_code=201, summary="Ask for a quote on the cart (B2B buyer; Idempotency-Key required)")
async def request_quote(body: NewQuote, shop: ShopDep, who: SignedIn, key: IdempotencyKey = None) -> Quote:
    """Version 1 of a quote, `requested`, with the cart's lines at their quantities (and today's prices for
    reference). The same key again answers the same quote."""
    quote = await quotes.request_quote(shop, who, cart_id=body.cart_id, note=body.note, key=key or "")
    return Quote.of(quote)


@buyer_quotes.get("", summary="The account's quotes, newest first (B2B buyer)")
async def list_quotes(
    shop: ShopDep, who: SignedIn, status: StatusFilter = None, page_size: PageSize = 0, page_token: PageToken = ""
) -> QuotePage:
    response = await quotes.list_quotes(
        shop, who, status=status or [], account_id="", page_size=page_size, page_token=page_token
    )
    return _page(response)


@buyer_quotes.get("/{quote_id}", summary="One of the account's quotes with every version (B2B buyer)")
async def get_quote(quote_id: str, shop: ShopDep, who: SignedIn) -> Quote:
    return Quote.of(await quotes.get_quote(shop, who, quote_id))


@buyer_quotes.post("/{quote_id}/revision-requests", summary="Ask for another offer (B2B buyer)")
async def request_quote_revision(quote_id: str, body: RevisionRequest, shop: ShopDep, who: SignedIn) -> Quote:
    """A new version, `requested` again, optionally with new quantities."""
    revision = quotes.Revision(body.version, body.note, tuple((line.sku, line.quantity) for line in body.lines))
    return Quote.of(await quotes.request_revision(shop, who, quote_id, revision))


@buyer_quotes.post("/{quote_id}/accept", summary="Accept the current offer (B2B buyer)")
async def accept_quote(quote_id: str, body: Acceptance, shop: ShopDep, who: SignedIn) -> Quote:
    """409 QUOTE_VERSION_STALE when `version` is not the current offer, 409 QUOTE_EXPIRED past its expiry.
    An accepted quote is ordered with POST /v1/checkout {"quote_id"}."""
    return Quote.of(await quotes.accept(shop, who, quote_id, body.version))


@buyer_quotes.post("/{quote_id}/decline", summary="Decline a quote (B2B buyer)")
async def decline_quote(quote_id: str, shop: ShopDep, who: SignedIn, body: Declination | None = None) -> Quote:
    return Quote.of(await quotes.decline(shop, who, quote_id, body.note if body else ""))


# --- sales users ------------------------------------------------------------------------------------


@sales_quotes.get("", summary="Quotes of every account, newest first (sales)")
async def list_sales_quotes(
    shop: ShopDep,
    who: SignedIn,
    status: StatusFilter = None,
    account_id: Annotated[str, Query(max_length=128)] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> QuotePage:
    """`status=requested` is the queue of quotes waiting for an offer."""
    quotes.require_sales(who)
    response = await quotes.list_quotes(
        shop, who, status=status or [], account_id=account_id, page_size=page_size, page_token=page_token
    )
    return _page(response)


@sales_quotes.get("/{quote_id}", summary="A quote with every version (sales)")
async def get_sales_quote(quote_id: str, shop: ShopDep, who: SignedIn) -> Quote:
    quotes.require_sales(who)
    return Quote.of(await quotes.get_quote(shop, who, quote_id))


@sales_quotes.post("/{quote_id}/offers", status_code=201, summary="Offer prices for the requested version (sales)")
async def offer_quote(quote_id: str, body: NewOffer, shop: ShopDep, who: SignedIn) -> Quote:
    """A new version, `offered`: a unit price (>= 0, the quote's currency) for every requested line and an
    expiry. A repeat of the same offer answers the quote as it is."""
    prices = tuple((line.sku, line.unit_price.amount, line.unit_price.currency) for line in body.lines)
    offer = quotes.Offer(prices, body.expires_at, body.version, body.note)
    return Quote.of(await quotes.offer(shop, who, quote_id, offer))
