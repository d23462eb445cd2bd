"""Sales quotes through the pricing API on a real database: requests idempotent by request id, offers
and revisions as versions, stale versions and expiry refused, Quote at the accepted prices (and the
basket checked against them), redemption once per quote and its release, the events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from nats.js import JetStreamContext

from shop.common.v1 import common_pb2
from shop.pricing.v1 import events_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error

ADMIN = metadata_for("admin")
SALES = metadata_for("sales", customer_id="seller-1")
CHECKOUT = metadata_for("service")


def buyer(account: str, user: str = "buyer-1") -> tuple[tuple[str, str], ...]:
    return metadata_for("b2b_buyer", customer_id=user, account_id=account)


async def error_of(call: Any) -> RpcErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return parse_rpc_error(raised.value)


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


def later(**delta: float) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(**delta))
    return stamp


async def request_quote(
    stub: Any, unique: str, *, key: str = "", lines: tuple[tuple[str, int], ...] = ()
) -> pb.SalesQuote:
    await stub.SetBasePrices(
        pb.SetBasePricesRequest(
            prices=[pb.BasePrice(sku=f"{unique}-A", price=usd(1000)), pb.BasePrice(sku=f"{unique}-B", price=usd(250))]
        ),
        metadata=ADMIN,
    )
    wanted = lines or ((f"{unique}-A", 10), (f"{unique}-B", 4))
    response = await stub.RequestSalesQuote(
        pb.RequestSalesQuoteRequest(
            request_id=key or f"request-{unique}",
            cart_id=f"cart-{unique}",
            lines=[pb.QuoteLine(sku=sku, quantity=quantity) for sku, quantity in wanted],
            context=common_pb2.CustomerContext(currency="USD"),
            note="volume order",
        ),
        metadata=buyer(f"acct-{unique}"),
    )
    quote: pb.SalesQuote = response.quote
    return quote


async def offer(stub: Any, quote: pb.SalesQuote, prices: dict[str, int], **expiry: float) -> pb.SalesQuote:
    response = await stub.OfferSalesQuote(
        pb.OfferSalesQuoteRequest(
            quote_id=quote.quote_id,
            version=quote.current_version,
            lines=[pb.OfferedPrice(sku=sku, unit_price=usd(amount)) for sku, amount in prices.items()],
            expires_at=later(**(expiry or {"days": 30})),
            note="our best",
        ),
        metadata=SALES,
    )
    offered: pb.SalesQuote = response.quote
    return offered


async def test_request_offer_revise_offer_accept_keeps_every_version(pricing: Any, unique: str) -> None:
    stub, account = pricing.stub, buyer(f"acct-{unique}")
    quote = await request_quote(stub, unique)
    assert quote.number.startswith("Q-") and quote.status == pb.SALES_QUOTE_STATUS_REQUESTED
    assert [(line.quantity, line.unit_price.amount) for line in quote.versions[0].lines] == [(10, 1000), (4, 250)]
    again = await request_quote(stub, unique)  # the same request id: the same quote
    assert again.quote_id == quote.quote_id and len(again.versions) == 1

    quote = await offer(stub, quote, {f"{unique}-A": 900, f"{unique}-B": 200})
    assert quote.status == pb.SALES_QUOTE_STATUS_OFFERED and quote.current_version == 2
    revised = await stub.RequestSalesQuoteRevision(
        pb.RequestSalesQuoteRevisionRequest(
            quote_id=quote.quote_id, version=2, note="20 of A?", lines=[pb.RevisedLine(sku=f"{unique}-A", quantity=20)]
        ),
        metadata=account,
    )
    quote = revised.quote
    assert quote.status == pb.SALES_QUOTE_STATUS_REQUESTED and quote.current_version == 3
    quote = await offer(stub, quote, {f"{unique}-A": 850, f"{unique}-B": 200})
    stale = await error_of(
        stub.AcceptSalesQuote(pb.AcceptSalesQuoteRequest(quote_id=quote.quote_id, version=2), metadata=account)
    )
    assert (stale.code, stale.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "QUOTE_VERSION_STALE")
    accepted = (
        await stub.AcceptSalesQuote(pb.AcceptSalesQuoteRequest(quote_id=quote.quote_id, version=4), metadata=account)
    ).quote
    assert accepted.status == pb.SALES_QUOTE_STATUS_ACCEPTED
    assert [v.kind for v in accepted.versions] == [
        pb.SALES_QUOTE_VERSION_KIND_REQUEST,
        pb.SALES_QUOTE_VERSION_KIND_OFFER,
        pb.SALES_QUOTE_VERSION_KIND_REVISION,
        pb.SALES_QUOTE_VERSION_KIND_OFFER,
    ]
    assert accepted.versions[1].lines[0].unit_price.amount == 900  # earlier versions are kept as they were
    assert accepted.versions[3].total.amount == 20 * 850 + 4 * 200
    # Another account cannot see it; the sales user lists it among the accepted ones.
    hidden = await error_of(
        stub.GetSalesQuote(pb.GetSalesQuoteRequest(quote_id=quote.quote_id), metadata=buyer("other"))
    )
    assert hidden.code is grpc.StatusCode.NOT_FOUND
    listed = await stub.ListSalesQuotes(
        pb.ListSalesQuotesRequest(statuses=[pb.SALES_QUOTE_STATUS_ACCEPTED], account_id=f"acct-{unique}"),
        metadata=SALES,
    )
    assert [q.quote_id for q in listed.quotes] == [quote.quote_id]


async def test_bad_offers_change_nothing(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    quote = await request_quote(stub, unique)
    bad = await error_of(
        stub.OfferSalesQuote(
            pb.OfferSalesQuoteRequest(
                quote_id=quote.quote_id,
                version=1,
                lines=[pb.OfferedPrice(sku=f"{unique}-A", unit_price=usd(-1))],
                expires_at=later(days=120),
            ),
            metadata=SALES,
        )
    )
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in bad.violations} >= {"lines[0].unit_price.amount", "lines", "expires_at"}
    buyers = await error_of(
        stub.OfferSalesQuote(
            pb.OfferSalesQuoteRequest(quote_id=quote.quote_id, version=1), metadata=buyer(f"acct-{unique}")
        )
    )
    assert buyers.code is grpc.StatusCode.PERMISSION_DENIED
    reused = await error_of(request_quote(stub, unique, lines=((f"{unique}-A", 1),)))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    current = await stub.GetSalesQuote(pb.GetSalesQuoteRequest(quote_id=quote.quote_id), metadata=SALES)
    assert current.quote.current_version == 1 and current.quote.status == pb.SALES_QUOTE_STATUS_REQUESTED


async def test_an_expired_offer_cannot_be_accepted(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    quote = await offer(stub, await request_quote(stub, unique), {f"{unique}-A": 1, f"{unique}-B": 1}, seconds=1)
    await asyncio.sleep(1.2)
    expired = await error_of(
        stub.AcceptSalesQuote(
            pb.AcceptSalesQuoteRequest(quote_id=quote.quote_id, version=2), metadata=buyer(f"acct-{unique}")
        )
    )
    assert (expired.code, expired.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "QUOTE_EXPIRED")
    read = await stub.GetSalesQuote(pb.GetSalesQuoteRequest(quote_id=quote.quote_id), metadata=SALES)
    assert read.quote.status == pb.SALES_QUOTE_STATUS_EXPIRED


async def accepted_quote(stub: Any, unique: str) -> pb.SalesQuote:
    quote = await offer(stub, await request_quote(stub, unique), {f"{unique}-A": 700, f"{unique}-B": 0})
    response = await stub.AcceptSalesQuote(
        pb.AcceptSalesQuoteRequest(quote_id=quote.quote_id, version=2), metadata=buyer(f"acct-{unique}")
    )
    accepted: pb.SalesQuote = response.quote
    return accepted


def basket(unique: str, quote_id: str, a: int = 10, b: int = 4) -> pb.QuoteRequest:
    return pb.QuoteRequest(
        lines=[pb.QuoteLine(sku=f"{unique}-A", quantity=a), pb.QuoteLine(sku=f"{unique}-B", quantity=b)],
        context=common_pb2.CustomerContext(currency="USD", account_id=f"acct-{unique}", customer_id="buyer-1"),
        sales_quote_id=quote_id,
    )


async def test_quote_prices_a_basket_at_the_accepted_prices_and_names_mismatches(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    quote = await accepted_quote(stub, unique)
    priced = await stub.Quote(basket(unique, quote.quote_id), metadata=CHECKOUT)
    assert [line.unit_price.amount for line in priced.lines] == [700, 0]
    assert priced.total.amount == 7000 and priced.discount_total.amount == 0
    assert priced.lines[0].reason.source == pb.PRICE_SOURCE_SALES_QUOTE
    mismatch = await error_of(stub.Quote(basket(unique, quote.quote_id, a=9), metadata=CHECKOUT))
    assert (mismatch.code, mismatch.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "QUOTE_MISMATCH")
    assert f"{unique}-A: quantity 9, quoted 10" in mismatch.message
    other = basket(unique, quote.quote_id)
    other.context.account_id = "someone-else"
    assert (await error_of(stub.Quote(other, metadata=CHECKOUT))).code is grpc.StatusCode.NOT_FOUND


async def test_one_checkout_redeems_a_quote_and_its_release_gives_it_back(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    quote = await accepted_quote(stub, unique)

    async def redeem(checkout_id: str) -> Any:
        request = pb.RedeemSalesQuoteRequest(
            quote_id=quote.quote_id, checkout_id=checkout_id, account_id=f"acct-{unique}"
        )
        return await stub.RedeemSalesQuote(request, metadata=CHECKOUT)

    results = await asyncio.gather(redeem(f"co-1-{unique}"), redeem(f"co-2-{unique}"), return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [parse_rpc_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and [e.reason for e in lost] == ["QUOTE_ALREADY_ORDERED"]
    winner = won[0].quote.checkout_id
    assert (await redeem(winner)).quote.status == pb.SALES_QUOTE_STATUS_ORDERED  # a replay
    again = await error_of(stub.Quote(basket(unique, quote.quote_id), metadata=CHECKOUT))
    assert again.reason == "QUOTE_ALREADY_ORDERED"

    released = await stub.ReleaseSalesQuote(pb.ReleaseSalesQuoteRequest(checkout_id=winner), metadata=CHECKOUT)
    assert released.quote.status == pb.SALES_QUOTE_STATUS_ACCEPTED and not released.quote.checkout_id
    late = await error_of(redeem(winner))  # a released checkout cannot redeem again
    assert late.reason == "QUOTE_REDEMPTION_RELEASED"
    empty = await stub.ReleaseSalesQuote(pb.ReleaseSalesQuoteRequest(checkout_id=f"co-3-{unique}"), metadata=CHECKOUT)
    assert not empty.HasField("quote")
    assert (await error_of(redeem(f"co-3-{unique}"))).reason == "QUOTE_REDEMPTION_RELEASED"
    assert (await redeem(f"co-4-{unique}")).quote.checkout_id == f"co-4-{unique}"


async def test_requested_offered_accepted_and_declined_are_published(
    pricing: Any, unique: str, js: JetStreamContext
) -> None:
    quote = await accepted_quote(pricing.stub, unique)
    refused = await offer(
        pricing.stub,
        await request_quote(pricing.stub, unique, key=f"no-{unique}"),
        {f"{unique}-A": 900, f"{unique}-B": 200},
    )
    for _ in range(2):  # a repeat changes nothing and publishes nothing
        await pricing.stub.DeclineSalesQuote(
            pb.DeclineSalesQuoteRequest(quote_id=refused.quote_id, note="too dear"), metadata=buyer(f"acct-{unique}")
        )
    sub = await js.pull_subscribe("shop.pricing.>", stream=kit_events.stream_name("pricing"))
    kinds: dict[str, Any] = {
        "shop.pricing.sales_quote_requested": events_pb2.SalesQuoteRequested,
        "shop.pricing.sales_quote_offered": events_pb2.SalesQuoteOffered,
        "shop.pricing.sales_quote_accepted": events_pb2.SalesQuoteAccepted,
        "shop.pricing.sales_quote_declined": events_pb2.SalesQuoteDeclined,
    }
    found: dict[tuple[str, str], list[Any]] = {}
    for _ in range(20):
        try:
            batch = await sub.fetch(500, timeout=0.5)
        except TimeoutError:
            if len(found) == 6:
                break
            continue
        for msg in batch:
            event = kinds[msg.subject].FromString(msg.data) if msg.subject in kinds else None
            if event is not None and event.quote_id in (quote.quote_id, refused.quote_id):
                found.setdefault((msg.subject.rsplit("_", 1)[1], event.quote_id), []).append(event)
    assert sorted(kind for kind, quote_id in found if quote_id == quote.quote_id) == [
        "accepted",
        "offered",
        "requested",
    ]
    [requested], [offered], [accepted] = (found[kind, quote.quote_id] for kind in ("requested", "offered", "accepted"))
    assert (requested.version, offered.version, accepted.version) == (1, 2, 2)
    assert offered.total.amount == accepted.total.amount == 7000
    assert accepted.accepted_by == "buyer-1"
    assert sorted(kind for kind, quote_id in found if quote_id == refused.quote_id) == [
        "declined",
        "offered",
        "requested",
    ]
    [declined] = found["declined", refused.quote_id]
    assert (declined.version, declined.declined_by, declined.note) == (2, "buyer-1", "too dear")
    assert declined.number == refused.number and declined.account_id == f"acct-{unique}"
