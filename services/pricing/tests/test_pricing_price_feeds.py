"""ERP price-list feeds: base prices and price-list tiers applied by the worker with the rules of
SetBasePrices / SetPriceListEntries, idempotent by feed id, a report per line."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import grpc

from shop.common.v1 import common_pb2, feed_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error

ADMIN = metadata_for("admin")
CUSTOMER = metadata_for("customer", customer_id="c-1")


def line(**fields: object) -> str:
    return json.dumps(fields)


async def run_feed(stub: Any, lines: list[str], feed_id: str = "") -> tuple[feed_pb2.Feed, list[feed_pb2.FeedLine]]:
    request = feed_pb2.StartFeedRequest(feed_id=feed_id or uuid.uuid4().hex, started_by="erp", lines=lines)
    started = await stub.StartPriceFeed(request, metadata=ADMIN)
    for _ in range(200):
        feed = await stub.GetPriceFeed(feed_pb2.GetFeedRequest(id=started.id), metadata=ADMIN)
        if feed.status == feed_pb2.FEED_STATUS_DONE:
            report = await stub.ListPriceFeedLines(feed_pb2.ListFeedLinesRequest(id=feed.id), metadata=ADMIN)
            return feed, list(report.lines)
        await asyncio.sleep(0.05)
    raise AssertionError("the feed did not finish")


async def unit_price(stub: Any, sku: str, quantity: int = 1, **context: str) -> int:
    request = pb.GetPriceRequest(sku=sku, quantity=quantity, context=common_pb2.CustomerContext(**context))
    return int((await stub.GetPrice(request, metadata=CUSTOMER)).price.unit_price.amount)


async def test_base_prices_and_tiers_apply_and_bad_lines_are_reported(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    sku = f"{unique}-A"
    list_id = f"{unique}-wholesale"
    price_list = pb.PriceList(
        id=list_id,
        name="Wholesale",
        kind=pb.PRICE_LIST_KIND_OVERRIDE,
        active=True,
        scope=pb.PriceListScope(currency="USD"),
    )
    await stub.CreatePriceList(pb.CreatePriceListRequest(price_list=price_list), metadata=ADMIN)
    feed, report = await run_feed(
        stub,
        [
            line(sku=sku, currency="USD", amount=1200),
            line(price_list=list_id, sku=sku, currency="USD", amount=1000, min_qty=1),
            line(price_list=list_id, sku=sku, currency="USD", amount=900, min_qty=10),
            line(price_list=list_id, sku=sku, currency="EUR", amount=900, min_qty=10),
            line(price_list="nope", sku=sku, currency="USD", amount=1),
            line(sku=sku, currency="usd?", amount=-1),
            line(price_list="base", sku=sku, currency="USD", amount=5, min_qty=3),
        ],
    )
    assert (feed.applied, feed.failed) == (3, 4)
    failed = [r for r in report if r.status == feed_pb2.FEED_LINE_STATUS_FAILED]
    assert [r.line for r in failed] == [4, 5, 6, 7]
    assert [v.field for v in failed[0].field_violations] == ["currency"]
    assert "not found" in failed[1].message
    assert {v.field for v in failed[2].field_violations} == {"currency", "amount"}
    assert [v.field for v in failed[3].field_violations] == ["min_qty"]
    assert report[0].key == f"base:{sku}:USD"
    log = await stub.ListPriceChanges(pb.ListPriceChangesRequest(sku=sku), metadata=ADMIN)
    assert [c.new_price.amount for c in log.changes] == [1200]
    # The override list's scope is only its currency: it prices everyone, by quantity tier.
    assert (await unit_price(stub, sku), await unit_price(stub, sku, 10)) == (1000, 900)


async def test_the_same_feed_twice_has_one_effect(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    sku = f"{unique}-B"
    lines = [line(sku=sku, currency="USD", amount=700)]
    feed_id = uuid.uuid4().hex
    first, _ = await run_feed(stub, lines, feed_id)
    again, _ = await run_feed(stub, lines, feed_id)
    assert again.id == first.id and first.applied == 1
    log = await stub.ListPriceChanges(pb.ListPriceChangesRequest(sku=sku), metadata=ADMIN)
    assert len(log.changes) == 1
    other = feed_pb2.StartFeedRequest(feed_id=feed_id, lines=[line(sku=sku, currency="USD", amount=1)])
    try:
        await stub.StartPriceFeed(other, metadata=ADMIN)
    except grpc.aio.AioRpcError as error:
        info = parse_rpc_error(error)
        assert (info.code, info.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    else:
        raise AssertionError("another body under the same feed id was taken")
    repeat, report = await run_feed(stub, lines)  # the same prices under a new id: nothing changes
    assert (repeat.applied, repeat.unchanged) == (0, 1)
    assert report[0].status == feed_pb2.FEED_LINE_STATUS_UNCHANGED
    assert len((await stub.ListPriceChanges(pb.ListPriceChangesRequest(sku=sku), metadata=ADMIN)).changes) == 1
