"""Inbound ERP feeds for the back office: stock levels (inventory) and price lists (pricing), uploaded
as CSV with a header row or as JSONL, read with bounds, and handed to the owning service, which stores
the feed whole and applies it with its own worker (shopkit.feeds). The feed id (`Feed-Id` header or
`feed_id` query) makes the upload idempotent: the same feed again answers the same feed, another body
under it is 409. Progress and the per-line report are read back by id through any gateway replica."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shop.common.v1 import feed_pb2
from shop_gateway.app.backoffice.catalog import NOT_UTF8, UploadTooLarge
from shop_gateway.app.backoffice.common import require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_page
from shop_gateway.principal import Principal
from shopkit.errors import FieldViolation, InvalidArgument, NotFound, Violations
from shopkit.feeds import MAX_FEED_ID, csv_to_objects

# The lines travel in one gRPC message (4 MiB by default): the JSON the gateway sends stays below this.
MAX_SENT_BYTES = 3 * 1024 * 1024
FIELDS = {"feed_id": "feed_id", "id": "id", "lines": "body"}
STATUSES = {
    feed_pb2.FEED_STATUS_QUEUED: "queued",
    feed_pb2.FEED_STATUS_RUNNING: "running",
    feed_pb2.FEED_STATUS_DONE: "done",
    feed_pb2.FEED_STATUS_FAILED: "failed",
}
LINE_STATUSES = {
    feed_pb2.FEED_LINE_STATUS_PENDING: "pending",
    feed_pb2.FEED_LINE_STATUS_APPLIED: "applied",
    feed_pb2.FEED_LINE_STATUS_UNCHANGED: "unchanged",
    feed_pb2.FEED_LINE_STATUS_FAILED: "failed",
    feed_pb2.FEED_LINE_STATUS_SKIPPED: "skipped",
}
CSV_TYPES = ("text/csv", "application/csv")


@dataclass(frozen=True)
class FeedKind:
    """One kind of feed: the service that owns it and its three RPCs."""

    name: str  # "stock" or "price"
    service: str  # the backend
    rpc: str  # the RPCs' stem: Start<rpc>, Get<rpc>, List<rpc>Lines
    # The machine clients' scope that opens this feed besides the admin role (shop_gateway.scopes).
    scope: str

    def call(self, shop: Shop, verb: str, suffix: str = "") -> Callable[..., Awaitable[Any]]:
        method: Callable[..., Awaitable[Any]] = getattr(getattr(shop.backends, self.service), verb + self.rpc + suffix)
        return method


STOCK = FeedKind("stock", "inventory", "StockFeed", "inventory:write")
PRICE = FeedKind("price", "pricing", "PriceFeed", "pricing:write")


@dataclass(frozen=True)
class Feed:
    id: str
    feed_id: str
    status: str
    lines_total: int
    lines_done: int
    applied: int
    unchanged: int
    failed: int
    error: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class FeedLine:
    line: int
    status: str
    key: str
    message: str
    errors: tuple[FieldViolation, ...]


def require_sender(who: Principal, kind: FeedKind) -> Principal:
    """Staff with the admin role send feeds, and ERP machine clients holding `kind.scope`: the edge admits
    those by route (`shop_gateway.scopes.GRANTS`) and they then act in the admin role checked here."""
    return require_admin(who)


def feed_lines(lines: list[str], content_type: str) -> list[str]:
    """The upload's lines as the service takes them: JSON objects, "" for a blank line or the CSV
    header (line numbers stay those of the upload). CSV by content type, else JSONL."""
    if any(line == NOT_UTF8 for line in lines):
        number = lines.index(NOT_UTF8) + 1
        raise InvalidArgument([FieldViolation("body", f"line {number} is not UTF-8 text")])
    media = content_type.split(";")[0].strip().lower()
    objects = csv_to_objects(lines) if media in CSV_TYPES else [line if line.strip() else "" for line in lines]
    if not any(objects):
        raise InvalidArgument([FieldViolation("body", "holds no feed line (CSV: a header row, then rows)")])
    if sum(len(line) for line in objects) > MAX_SENT_BYTES:
        raise UploadTooLarge(f"the feed is larger than {MAX_SENT_BYTES} bytes as JSON lines: split it")
    return objects


async def send_feed(
    shop: Shop, who: Principal, kind: FeedKind, lines: list[str], *, feed_id: str, content_type: str
) -> feed_pb2.Feed:
    """The feed as its service stored it (HTTP and gRPC send through here)."""
    require_sender(who, kind)
    violations = Violations()
    violations.check(bool(feed_id.strip()), "feed_id", "is required (Feed-Id header or feed_id query)")
    violations.check(len(feed_id) <= MAX_FEED_ID, "feed_id", f"at most {MAX_FEED_ID} characters")
    violations.raise_if_any()
    request = feed_pb2.StartFeedRequest(feed_id=feed_id, started_by=who.subject, lines=feed_lines(lines, content_type))
    with upstream(kind.service, FIELDS):
        started: feed_pb2.Feed = await kind.call(shop, "Start")(request, metadata=who.metadata())
    return started


async def start_feed(
    shop: Shop, who: Principal, kind: FeedKind, lines: list[str], *, feed_id: str, content_type: str
) -> Feed:
    return _feed(await send_feed(shop, who, kind, lines, feed_id=feed_id, content_type=content_type))


async def read_feed(shop: Shop, who: Principal, kind: FeedKind, feed: str) -> feed_pb2.Feed:
    require_sender(who, kind)
    if not feed:
        raise NotFound(f"{kind.name} feed", feed)
    with upstream(kind.service, FIELDS):
        found: feed_pb2.Feed = await kind.call(shop, "Get")(feed_pb2.GetFeedRequest(id=feed), metadata=who.metadata())
    return found


async def get_feed(shop: Shop, who: Principal, kind: FeedKind, feed: str) -> Feed:
    return _feed(await read_feed(shop, who, kind, feed))


async def read_lines(
    shop: Shop, who: Principal, kind: FeedKind, feed: str, *, failed_only: bool, page_size: int, page_token: str
) -> feed_pb2.ListFeedLinesResponse:
    """The report of each line from the cursor on, in line order (only the failed ones with failed_only)."""
    require_sender(who, kind)
    violations = Violations()
    size = check_page(violations, page_size)
    violations.raise_if_any()
    if not feed:
        raise NotFound(f"{kind.name} feed", feed)
    request = feed_pb2.ListFeedLinesRequest(id=feed, failed_only=failed_only)
    request.page.page_size, request.page.page_token = size, page_token
    with upstream(kind.service, {**FIELDS, "page.page_token": "page_token"}):
        response: feed_pb2.ListFeedLinesResponse = await kind.call(shop, "List", "Lines")(
            request, metadata=who.metadata()
        )
    return response


async def list_lines(
    shop: Shop, who: Principal, kind: FeedKind, feed: str, *, failed_only: bool, page_size: int, page_token: str
) -> tuple[list[FeedLine], str]:
    response = await read_lines(
        shop, who, kind, feed, failed_only=failed_only, page_size=page_size, page_token=page_token
    )
    lines = [
        FeedLine(
            line.line,
            LINE_STATUSES.get(line.status, "pending"),
            line.key,
            line.message,
            tuple(FieldViolation(v.field, v.description) for v in line.field_violations),
        )
        for line in response.lines
    ]
    return lines, response.next_page_token


def _feed(message: feed_pb2.Feed) -> Feed:
    finished = message.finished_at.ToDatetime(tzinfo=UTC) if message.HasField("finished_at") else None
    return Feed(
        id=message.id,
        feed_id=message.feed_id,
        status=STATUSES.get(message.status, "queued"),
        lines_total=message.lines_total,
        lines_done=message.lines_done,
        applied=message.applied,
        unchanged=message.unchanged,
        failed=message.failed,
        error=message.error,
        started_by=message.started_by,
        started_at=message.started_at.ToDatetime(tzinfo=UTC),
        finished_at=finished,
    )
