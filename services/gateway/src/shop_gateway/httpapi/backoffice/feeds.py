"""Inbound ERP feeds (role admin): POST a stock feed or a price-list feed (CSV with a header row, or
JSONL), follow its progress, read the report of every line. The owning services keep the feeds: any
gateway replica reads any of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from shop_gateway.app.backoffice import catalog, feeds
from shop_gateway.app.backoffice.feeds import Feed, FeedKind
from shop_gateway.httpapi.backoffice.catalog import FieldError
from shop_gateway.httpapi.backoffice.common import PageSize, PageToken, router
from shop_gateway.httpapi.deps import ShopDep, SignedIn

STOCK_FEEDS = "/v1/admin/stock-feeds"
PRICE_FEEDS = "/v1/admin/price-feeds"
FeedIdHeader = Annotated[
    str | None, Header(alias="Feed-Id", description="the ERP's id of this feed, at most 64 characters: idempotency")
]
FeedIdQuery = Annotated[str | None, Query(description="the feed id when the sender cannot set a Feed-Id header")]
EXAMPLES = {
    "stock": (
        "sku,location_id,on_hand\nTS-42,wh-berlin,120\n",
        '{"sku": "TS-42", "location_id": "wh-berlin", "on_hand": 120}\n'
        '{"sku": "TS-43", "location_id": "wh-berlin", "mode": "adjust", "delta": -3}\n',
        "a line sets on_hand of a SKU at a location (mode set, the default: SetStock's rules) or changes it by "
        "delta (mode adjust: AdjustStock's rules); on-hand never drops below what is reserved",
    ),
    "price": (
        "price_list,sku,currency,amount,min_qty\nbase,TS-42,EUR,8999,\nwholesale,TS-42,EUR,7999,10\n",
        '{"sku": "TS-42", "currency": "EUR", "amount": 8999}\n'
        '{"price_list": "wholesale", "sku": "TS-42", "currency": "EUR", "amount": 7999, "min_qty": 10}\n',
        "a line sets a base price (price_list empty or base) or one quantity tier of an existing price list; "
        "amounts in minor units",
    ),
}


class FeedView(BaseModel):
    id: str
    feed_id: str
    status: str = Field(description="queued, running, done, or failed (stopped before the end: error)")
    lines_total: int
    lines_done: int = Field(description="lines applied or reported so far")
    applied: int
    unchanged: int
    failed: int
    error: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None


class FeedLineView(BaseModel):
    line: int = Field(description="1-based line number of the upload (a CSV header is line 1)")
    status: str = Field(description="applied, unchanged, failed, skipped (blank or header), or pending")
    key: str = Field(description="what the line names, e.g. SKU@location or list:SKU:currency")
    message: str
    errors: list[FieldError]


class FeedLinePage(BaseModel):
    lines: list[FeedLineView]
    next_page_token: str


def _view(feed: Feed) -> FeedView:
    return FeedView.model_validate({name: getattr(feed, name) for name in FeedView.model_fields})


def feed_router(kind: FeedKind, path: str) -> APIRouter:
    """POST, GET progress and GET lines of one kind of feed."""
    routes = router(path, f"back office: {kind.name} feeds")
    csv_example, jsonl_example, meaning = EXAMPLES[kind.name]
    body: dict[str, Any] = {
        "required": True,
        "description": f"CSV with a header row (text/csv) or JSONL (one object per line): {meaning}",
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": csv_example},
            **{
                m: {"schema": {"type": "string"}, "example": jsonl_example}
                for m in ("application/x-ndjson", "application/jsonl")
            },
        },
    }
    location = {"description": "the feed: GET it for progress", "required": True, "schema": {"type": "string"}}

    @routes.post(
        "",
        status_code=202,
        name=f"send_{kind.name}_feed",
        summary=f"Send an ERP {kind.name} feed (admin)",
        openapi_extra={"requestBody": body},
        responses={202: {"description": "the feed is stored and runs", "headers": {"Location": location}}},
    )
    async def start(
        request: Request,
        shop: ShopDep,
        who: SignedIn,
        response: Response,
        feed_id_header: FeedIdHeader = None,
        feed_id: FeedIdQuery = None,
    ) -> FeedView:
        """The upload is read as it arrives (at most FEED_MAX_BYTES and FEED_MAX_LINES, else 413), stored
        whole by the owning service, then applied by its worker in batches: GET the Location for progress,
        its /lines for the report. The same feed id again answers the same feed and applies nothing twice;
        another body under it is 409."""
        feeds.require_sender(who, kind)  # before reading anything
        settings = shop.settings
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > catalog.DRAIN_FACTOR * settings.feed_max_bytes:
            raise catalog.UploadTooLarge(f"the upload is larger than {settings.feed_max_bytes} bytes")
        lines = await catalog.read_upload(
            request.stream(), max_bytes=settings.feed_max_bytes, max_lines=settings.feed_max_lines
        )
        started = await feeds.start_feed(
            shop,
            who,
            kind,
            lines,
            feed_id=feed_id_header or feed_id or "",
            content_type=request.headers.get("content-type", ""),
        )
        response.headers["Location"] = f"{path}/{started.id}"
        return _view(started)

    @routes.get("/{id}", name=f"get_{kind.name}_feed", summary=f"A {kind.name} feed's progress and counts (admin)")
    async def get(id: str, shop: ShopDep, who: SignedIn) -> FeedView:
        return _view(await feeds.get_feed(shop, who, kind, id))

    @routes.get(
        "/{id}/lines",
        name=f"list_{kind.name}_feed_lines",
        summary=f"The report of each line of a {kind.name} feed (admin)",
    )
    async def lines(
        id: str,
        shop: ShopDep,
        who: SignedIn,
        failed_only: bool = False,
        page_size: PageSize = 0,
        page_token: PageToken = "",
    ) -> FeedLinePage:
        found, token = await feeds.list_lines(
            shop, who, kind, id, failed_only=failed_only, page_size=page_size, page_token=page_token
        )
        views = [
            FeedLineView(
                line=r.line,
                status=r.status,
                key=r.key,
                message=r.message,
                errors=[FieldError(field=e.field, description=e.description) for e in r.errors],
            )
            for r in found
        ]
        return FeedLinePage(lines=views, next_page_token=token)

    return routes


stock_feeds = feed_router(feeds.STOCK, STOCK_FEEDS)
price_feeds = feed_router(feeds.PRICE, PRICE_FEEDS)
