"""The pricing service over real gRPC, PostgreSQL and NATS: prices, quotes, admin, errors, events."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.common.v1 import common_pb2
from shop.pricing.v1 import events_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shop_pricing.demo import ACME_ACCOUNT, WELCOME_COUPON, demo_usd_cents, seed_demo
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error

ADMIN = metadata_for("admin")
CUSTOMER = metadata_for("customer", customer_id="c-1")


def money(amount: int, currency: str = "USD") -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def entry(sku: str, *tiers: tuple[int, int, str]) -> pb.PriceListEntry:
    return pb.PriceListEntry(sku=sku, tiers=[pb.PriceTier(min_quantity=q, unit_price=money(a, c)) for q, a, c in tiers])


async def error_of(call: Awaitable[Any]) -> RpcErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return parse_rpc_error(raised.value)


async def set_base(stub: Any, *prices: tuple[str, int, str]) -> pb.SetBasePricesResponse:
    request = pb.SetBasePricesRequest(prices=[pb.BasePrice(sku=s, price=money(a, c)) for s, a, c in prices])
    response: pb.SetBasePricesResponse = await stub.SetBasePrices(request, metadata=ADMIN)
    return response


async def create_list(stub: Any, list_id: str, *entries: pb.PriceListEntry, **fields: Any) -> None:
    fields.setdefault("kind", pb.PRICE_LIST_KIND_OVERRIDE)
    fields.setdefault("active", True)
    price_list = pb.PriceList(id=list_id, name=list_id.title(), **fields)
    await stub.CreatePriceList(pb.CreatePriceListRequest(price_list=price_list, entries=entries), metadata=ADMIN)


async def prices(stub: Any, items: list[tuple[str, int]], **context: str) -> pb.GetPricesResponse:
    request = pb.GetPricesRequest(
        items=[pb.PriceQuery(sku=s, quantity=q) for s, q in items], context=common_pb2.CustomerContext(**context)
    )
    response: pb.GetPricesResponse = await stub.GetPrices(request, metadata=CUSTOMER)
    return response


async def find_event(
    js: JetStreamContext, subject: str, matches: Callable[[bytes], bool], within: float = 10.0
) -> bytes:
    """The first message on `subject` (from the stream's start) whose payload `matches`."""
    sub = await js.pull_subscribe(
        subject, stream=kit_events.stream_name("pricing"), config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            try:
                batch = await sub.fetch(200, timeout=1.0)
            except TimeoutError:
                continue
            for msg in batch:
                await msg.ack()
                if matches(msg.data):
                    return msg.data
    finally:
        await sub.unsubscribe()
    raise AssertionError(f"no matching event on {subject}")


# ------------------------------------------------------------------------------------------------
# Price selection


async def test_prices_follow_scope_tiers_windows_currency_and_country(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    a, b = f"{unique}-A", f"{unique}-B"
    acme = f"{unique}-acme"
    now = datetime.now(UTC)
    await set_base(stub, (a, 1000, "USD"), (a, 950, "EUR"), (b, 2000, "USD"))
    await create_list(
        stub,
        f"{unique}-ws",
        entry(a, (1, 900, "USD"), (10, 800, "USD"), (1, 850, "EUR")),
        scope=pb.PriceListScope(customer_group="wholesale"),
    )
    await create_list(stub, f"{unique}-acme", entry(a, (1, 950, "USD")), scope=pb.PriceListScope(account_id=acme))
    # Cheaper and higher priority, but unscoped: loses to any more specific list.
    await create_list(stub, f"{unique}-all", entry(a, (1, 700, "USD")), kind=pb.PRICE_LIST_KIND_SALE, priority=100)
    await create_list(
        stub,
        f"{unique}-past",
        entry(b, (1, 1500, "USD")),
        valid_from=stamp(now - timedelta(days=2)),
        valid_to=stamp(now - timedelta(days=1)),
    )
    await create_list(stub, f"{unique}-future", entry(b, (1, 1500, "USD")), valid_from=stamp(now + timedelta(days=1)))
    await create_list(stub, f"{unique}-de", entry(b, (1, 1800, "USD")), scope=pb.PriceListScope(country="DE"))

    retail = await prices(stub, [(a, 1), (b, 1)], currency="USD", country="US")
    assert [(p.sku, p.unit_price.amount, p.original_price.amount) for p in retail.prices] == [
        (a, 700, 1000),
        (b, 2000, 2000),
    ]
    assert retail.prices[0].reason.price_list_id == f"{unique}-all"
    assert retail.prices[0].reason.price_list_kind == pb.PRICE_LIST_KIND_SALE
    assert retail.prices[1].reason.source == pb.PRICE_SOURCE_BASE and retail.prices[1].reason.description == "base"

    wholesale = await prices(stub, [(a, 9), (b, 1)], customer_group="wholesale", currency="USD", country="DE")
    assert [p.unit_price.amount for p in wholesale.prices] == [900, 1800]
    assert wholesale.prices[0].reason.price_list_id == f"{unique}-ws"
    assert wholesale.prices[1].reason.price_list_id == f"{unique}-de"

    tier = await prices(stub, [(a, 10)], customer_group="wholesale", currency="USD")
    assert tier.prices[0].unit_price.amount == 800
    assert tier.prices[0].reason.tier_min_quantity == 10
    assert "tier >= 10" in tier.prices[0].reason.description

    account = await prices(stub, [(a, 10)], customer_group="wholesale", account_id=acme, currency="USD")
    assert account.prices[0].unit_price.amount == 950  # the account's contract price, dearer than the tier
    assert account.prices[0].reason.price_list_id == f"{unique}-acme"

    euros = await prices(stub, [(a, 1)], customer_group="wholesale", currency="EUR")
    assert (euros.prices[0].unit_price, euros.prices[0].original_price) == (money(850, "EUR"), money(950, "EUR"))
    retail_euros = await prices(stub, [(a, 1)], currency="EUR")
    assert retail_euros.prices[0].unit_price == money(950, "EUR")  # the USD-only lists do not apply

    single = await stub.GetPrice(
        pb.GetPriceRequest(sku=a, quantity=0, context=common_pb2.CustomerContext(customer_group="wholesale")),
        metadata=CUSTOMER,
    )  # default currency USD, quantity 0 means 1
    assert single.price.unit_price == money(900) and single.price.quantity == 1


async def test_unknown_skus_are_line_problems_and_get_price_is_not_found(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    known, unknown = f"{unique}-K", f"{unique}-U"
    await set_base(stub, (known, 500, "USD"))
    response = await prices(stub, [(known, 1), (unknown, 2)])
    assert [p.sku for p in response.prices] == [known]
    assert [(p.field, p.sku, p.code) for p in response.problems] == [("items[1].sku", unknown, "NO_PRICE")]

    quote = await stub.Quote(
        pb.QuoteRequest(lines=[pb.QuoteLine(sku=unknown, quantity=1), pb.QuoteLine(sku=known, quantity=3)]),
        metadata=CUSTOMER,
    )
    assert [(p.field, p.code) for p in quote.problems] == [("lines[0].sku", "NO_PRICE")]
    assert [(line.index, line.sku) for line in quote.lines] == [(1, known)]
    assert quote.total == money(1500)

    error = await error_of(stub.GetPrice(pb.GetPriceRequest(sku=unknown), metadata=CUSTOMER))
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_missing_currency_prices_are_converted_from_the_reference_currency(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    sku = f"{unique}-C"
    await set_base(stub, (sku, 1999, "USD"))
    for quote, rate in (("EUR", "0.9215"), ("JPY", "151.5"), ("KWD", "0.3070")):
        await stub.SetRate(
            pb.SetRateRequest(rate=pb.ExchangeRate(base_currency="USD", quote_currency=quote, rate=rate)),
            metadata=ADMIN,
        )
    expected = {"EUR": (1842, "0.9215"), "JPY": (3028, "151.5"), "KWD": (6137, "0.307")}
    for currency, (amount, rate_text) in expected.items():
        response = await prices(stub, [(sku, 1)], currency=currency)
        price = response.prices[0]
        assert price.unit_price == money(amount, currency) and price.original_price == money(amount, currency)
        assert price.reason.converted and price.reason.converted_from_currency == "USD"
        assert price.reason.rate == rate_text
        assert price.reason.description == f"base (converted from USD at {rate_text})"
    # A currency without a rate: the SKU cannot be priced in it.
    missing = await prices(stub, [(sku, 1)], currency="SEK")
    assert [p.code for p in missing.problems] == ["NO_PRICE"]
    rates = await stub.ListRates(pb.ListRatesRequest(), metadata=ADMIN)
    assert ("USD", "KWD", "0.307") in [(r.base_currency, r.quote_currency, r.rate) for r in rates.rates]


# ------------------------------------------------------------------------------------------------
# Quote


async def test_quote_totals_with_percent_amount_promotions_minimum_spend_and_coupon(pricing: Any, unique: str) -> None:
    # CHF only: automatic order promotions apply to every quote of their currency, and the other
    # tests of this module quote in USD/EUR.
    stub = pricing.stub
    p, q = f"{unique}-P", f"{unique}-Q"
    await set_base(stub, (p, 1000, "CHF"), (q, 2500, "CHF"))
    promotions = [
        pb.Promotion(
            id=f"{unique}-q20",
            name="20% off Q",
            kind=pb.DISCOUNT_KIND_PERCENT,
            percent_bp=2000,
            target=pb.DISCOUNT_TARGET_PRODUCTS,
            skus=[q],
            automatic=True,
            active=True,
        ),
        pb.Promotion(
            id=f"{unique}-5off",
            name="5 CHF off from 50",
            kind=pb.DISCOUNT_KIND_AMOUNT,
            amount_off=money(500, "CHF"),
            min_spend=money(5000, "CHF"),
            target=pb.DISCOUNT_TARGET_ORDER,
            automatic=True,
            active=True,
        ),
        pb.Promotion(
            id=f"{unique}-save15",
            name="15% with a coupon",
            kind=pb.DISCOUNT_KIND_PERCENT,
            percent_bp=1500,
            min_spend=money(0, "CHF"),
            target=pb.DISCOUNT_TARGET_ORDER,
            active=True,
        ),
    ]
    for promotion in promotions:
        await stub.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion), metadata=ADMIN)
    code = f"SAVE15-{unique}".upper()
    await stub.CreateCoupon(
        pb.CreateCouponRequest(coupon=pb.Coupon(code=code, promotion_id=f"{unique}-save15", active=True)),
        metadata=ADMIN,
    )

    async def quote(p_quantity: int, coupon: str = "") -> pb.QuoteResponse:
        request = pb.QuoteRequest(
            lines=[pb.QuoteLine(sku=p, quantity=p_quantity), pb.QuoteLine(sku=q, quantity=1)],
            context=common_pb2.CustomerContext(currency="CHF", customer_id="c-1"),
            coupon_code=coupon,
        )
        response: pb.QuoteResponse = await stub.Quote(request, metadata=CUSTOMER)
        return response

    below = await quote(2)  # 2000 + 2500 = 4500 < 5000: no order promotion
    assert [(line.subtotal.amount, line.discount.amount, line.line_total.amount) for line in below.lines] == [
        (2000, 0, 2000),
        (2500, 500, 2000),
    ]
    assert below.lines[1].applied_discount.promotion_id == f"{unique}-q20"
    assert list(below.order_discounts) == []
    assert (below.subtotal, below.discount_total, below.total) == (
        money(4500, "CHF"),
        money(500, "CHF"),
        money(4000, "CHF"),
    )

    above = await quote(3)  # 5500 >= 5000: 500 off the order
    assert [(d.promotion_id, d.amount.amount) for d in above.order_discounts] == [(f"{unique}-5off", 500)]
    assert (above.subtotal.amount, above.discount_total.amount, above.total.amount) == (5500, 1000, 4500)

    with_coupon = await quote(3, coupon=f"  {code.lower()} ")  # case-insensitive; 15% of 5000 beats 500
    assert with_coupon.coupon.applied and with_coupon.coupon.code == code
    assert with_coupon.coupon.discount == money(750, "CHF")
    assert [(d.coupon_code, d.amount.amount) for d in with_coupon.order_discounts] == [(code, 750)]
    assert (with_coupon.discount_total.amount, with_coupon.total.amount) == (1250, 4250)
    assert with_coupon.lines[0].unit_price == money(1000, "CHF")
    assert with_coupon.lines[0].reason.source == pb.PRICE_SOURCE_BASE

    unknown = await quote(3, coupon="NO-SUCH-CODE")
    assert (unknown.coupon.applied, unknown.coupon.reason) == (False, "NOT_FOUND")
    assert unknown.total.amount == 4500


async def test_quote_prices_a_repeated_sku_at_its_total_quantity(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    sku = f"{unique}-T"
    await set_base(stub, (sku, 1000, "USD"))
    await create_list(stub, f"{unique}-tiers", entry(sku, (1, 1000, "USD"), (10, 900, "USD")))
    response = await stub.Quote(
        pb.QuoteRequest(lines=[pb.QuoteLine(sku=sku, quantity=6), pb.QuoteLine(sku=sku, quantity=4)]), metadata=CUSTOMER
    )
    assert [line.unit_price.amount for line in response.lines] == [900, 900]
    assert response.total == money(9000)


# ------------------------------------------------------------------------------------------------
# Admin: validation, permissions, idempotency, not found


async def test_bad_input_is_invalid_argument_with_field_violations_and_changes_nothing(
    pricing: Any, unique: str
) -> None:
    stub = pricing.stub
    good = f"{unique}-G"
    bad_prices = pb.SetBasePricesRequest(
        prices=[
            pb.BasePrice(sku=good, price=money(100)),
            pb.BasePrice(sku=f"{unique}-X", price=money(100, "usd")),
            pb.BasePrice(sku=f"{unique}-Y", price=money(-1)),
            pb.BasePrice(sku="", price=money(100)),
            pb.BasePrice(sku=good, price=money(200)),
        ]
    )
    error = await error_of(stub.SetBasePrices(bad_prices, metadata=ADMIN))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {
        "prices[1].price.currency",
        "prices[2].price.amount",
        "prices[3].sku",
        "prices[4]",
    }
    assert (await prices(stub, [(good, 1)])).problems[0].code == "NO_PRICE"  # the good row was not written

    bad_list = pb.CreatePriceListRequest(
        price_list=pb.PriceList(
            id="Bad Id",
            name="",
            scope=pb.PriceListScope(country="Germany"),
            valid_from=stamp(datetime(2030, 1, 1, tzinfo=UTC)),
            valid_to=stamp(datetime(2029, 1, 1, tzinfo=UTC)),
        ),
        entries=[entry(good, (0, 100, "USD")), pb.PriceListEntry(sku=good)],
    )
    error = await error_of(stub.CreatePriceList(bad_list, metadata=ADMIN))
    assert {v.field for v in error.violations} == {
        "price_list.id",
        "price_list.name",
        "price_list.kind",
        "price_list.scope.country",
        "price_list.valid_to",
        "entries[0].tiers[0].min_quantity",
        "entries[1].sku",
        "entries[1].tiers",
    }
    listed = await stub.ListPriceLists(
        pb.ListPriceListsRequest(page=common_pb2.PageRequest(page_size=500)), metadata=ADMIN
    )
    assert all(not item.id.startswith("bad") for item in listed.price_lists)

    scoped = f"{unique}-eur-only"
    await create_list(stub, scoped, scope=pb.PriceListScope(currency="EUR"))
    error = await error_of(
        stub.SetPriceListEntries(
            pb.SetPriceListEntriesRequest(price_list_id=scoped, entries=[entry(good, (1, 100, "USD"))]), metadata=ADMIN
        )
    )
    assert [v.field for v in error.violations] == ["entries[0].tiers"]
    assert list((await stub.GetPriceList(pb.GetPriceListRequest(id=scoped), metadata=ADMIN)).entries) == []

    error = await error_of(
        stub.Quote(
            pb.QuoteRequest(
                lines=[pb.QuoteLine(sku=good, quantity=0), pb.QuoteLine(sku="", quantity=1)],
                context=common_pb2.CustomerContext(currency="eur", country="deu"),
            ),
            metadata=CUSTOMER,
        )
    )
    assert {v.field for v in error.violations} == {
        "lines[0].quantity",
        "lines[1].sku",
        "context.currency",
        "context.country",
    }
    error = await error_of(stub.Quote(pb.QuoteRequest(), metadata=CUSTOMER))
    assert [v.field for v in error.violations] == ["lines"]

    error = await error_of(
        stub.CreatePromotion(
            pb.CreatePromotionRequest(
                promotion=pb.Promotion(
                    id=f"{unique}-p",
                    name="P",
                    kind=pb.DISCOUNT_KIND_PERCENT,
                    percent_bp=0,
                    target=pb.DISCOUNT_TARGET_PRODUCTS,
                )
            ),
            metadata=ADMIN,
        )
    )
    assert {v.field for v in error.violations} == {"promotion.percent_bp", "promotion.skus"}
    listed_promotions = await stub.ListPromotions(pb.ListPromotionsRequest(), metadata=ADMIN)
    assert all(item.id != f"{unique}-p" for item in listed_promotions.promotions)

    error = await error_of(
        stub.CreateCoupon(
            pb.CreateCouponRequest(coupon=pb.Coupon(code="x!", promotion_id="", usage_limit_total=-1)), metadata=ADMIN
        )
    )
    assert {v.field for v in error.violations} == {"coupon.code", "coupon.promotion_id", "coupon.usage_limit_total"}

    error = await error_of(
        stub.SetRate(
            pb.SetRateRequest(rate=pb.ExchangeRate(base_currency="USD", quote_currency="USD", rate="-1")),
            metadata=ADMIN,
        )
    )
    assert {v.field for v in error.violations} == {"rate.quote_currency", "rate.rate"}

    error = await error_of(
        stub.PutDynamicRule(
            pb.PutDynamicRuleRequest(
                rule=pb.DynamicRule(
                    id=f"{unique}-r",
                    name="r",
                    skus=[good, good],
                    floor_bp=20_000,
                    ceiling_bp=5_000,
                    max_step_bp=0,
                )
            ),
            metadata=ADMIN,
        )
    )
    assert {v.field for v in error.violations} == {
        "rule.skus[1]",
        "rule.low_stock_threshold",
        "rule.floor_bp",
        "rule.ceiling_bp",
        "rule.max_step_bp",
    }
    rules = await stub.ListDynamicRules(pb.ListDynamicRulesRequest(), metadata=ADMIN)
    assert all(rule.id != f"{unique}-r" for rule in rules.rules)

    error = await error_of(
        stub.ListPriceLists(
            pb.ListPriceListsRequest(page=common_pb2.PageRequest(page_token="not-a-token")), metadata=ADMIN
        )
    )
    assert [v.field for v in error.violations] == ["page.page_token"]


ADMIN_CALLS: list[tuple[str, Any]] = [
    ("SetBasePrices", pb.SetBasePricesRequest(prices=[pb.BasePrice(sku="S", price=money(1))])),
    ("CreatePriceList", pb.CreatePriceListRequest()),
    ("UpdatePriceList", pb.UpdatePriceListRequest()),
    ("SetPriceListEntries", pb.SetPriceListEntriesRequest()),
    ("DeletePriceListEntries", pb.DeletePriceListEntriesRequest()),
    ("ListPriceLists", pb.ListPriceListsRequest()),
    ("GetPriceList", pb.GetPriceListRequest()),
    ("CreatePromotion", pb.CreatePromotionRequest()),
    ("ListPromotions", pb.ListPromotionsRequest()),
    ("CreateCoupon", pb.CreateCouponRequest()),
    ("GetCoupon", pb.GetCouponRequest()),
    ("SetRate", pb.SetRateRequest()),
    ("ListRates", pb.ListRatesRequest()),
    ("PutDynamicRule", pb.PutDynamicRuleRequest()),
    ("DeleteDynamicRule", pb.DeleteDynamicRuleRequest()),
    ("ListDynamicRules", pb.ListDynamicRulesRequest()),
    ("ListPriceChanges", pb.ListPriceChangesRequest()),
    ("RedeemCoupon", pb.RedeemCouponRequest()),
    ("ReleaseCouponRedemption", pb.ReleaseCouponRedemptionRequest()),
]


@pytest.mark.parametrize(("method", "request_message"), ADMIN_CALLS, ids=[name for name, _ in ADMIN_CALLS])
async def test_admin_rpcs_need_the_admin_or_service_role(pricing: Any, method: str, request_message: Any) -> None:
    call = getattr(pricing.stub, method)
    for metadata in (CUSTOMER, metadata_for("b2b_buyer", account_id="acme"), ()):
        error = await error_of(call(request_message, metadata=metadata))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
        assert error.reason == "ROLE_REQUIRED"
    assert (await prices(pricing.stub, [("S", 1)])).problems[0].code == "NO_PRICE"  # nothing was written


async def test_creates_are_safe_to_retry_and_conflicts_are_reported(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    list_id = f"{unique}-retry"
    request = pb.CreatePriceListRequest(
        price_list=pb.PriceList(id=list_id, name="Retry", kind=pb.PRICE_LIST_KIND_SALE, active=True, priority=3)
    )
    first = await stub.CreatePriceList(request, metadata=ADMIN)
    again = await stub.CreatePriceList(request, metadata=ADMIN)
    assert again.price_list == first.price_list
    request.price_list.priority = 4
    error = await error_of(stub.CreatePriceList(request, metadata=ADMIN))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS

    promotion = pb.Promotion(
        id=f"{unique}-promo",
        name="Ten",
        kind=pb.DISCOUNT_KIND_PERCENT,
        percent_bp=1000,
        target=pb.DISCOUNT_TARGET_ORDER,
        active=True,
        valid_to=stamp(datetime.now(UTC) + timedelta(days=30)),
    )
    created = await stub.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion), metadata=ADMIN)
    repeated = await stub.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion), metadata=ADMIN)
    assert repeated.promotion == created.promotion
    code = f"Mixed-Case-{unique}"
    coupon = pb.Coupon(code=code, promotion_id=promotion.id, usage_limit_total=5, active=True)
    await stub.CreateCoupon(pb.CreateCouponRequest(coupon=coupon), metadata=ADMIN)
    await stub.CreateCoupon(pb.CreateCouponRequest(coupon=coupon), metadata=ADMIN)
    fetched = await stub.GetCoupon(pb.GetCouponRequest(code=code.lower()), metadata=ADMIN)
    assert (fetched.coupon.code, fetched.coupon.usage_limit_total) == (code.upper(), 5)
    coupon.code = code.lower()
    coupon.usage_limit_total = 6
    error = await error_of(stub.CreateCoupon(pb.CreateCouponRequest(coupon=coupon), metadata=ADMIN))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS

    error = await error_of(
        stub.CreateCoupon(
            pb.CreateCouponRequest(coupon=pb.Coupon(code=f"ORPHAN-{unique}", promotion_id=f"{unique}-missing")),
            metadata=ADMIN,
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = await error_of(
        stub.UpdatePriceList(
            pb.UpdatePriceListRequest(
                price_list=pb.PriceList(id=f"{unique}-missing", name="M", kind=pb.PRICE_LIST_KIND_SALE)
            ),
            metadata=ADMIN,
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_price_list_admin_lifecycle_and_pagination(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    sku, other = f"{unique}-L", f"{unique}-M"
    await set_base(stub, (sku, 1000, "USD"), (other, 1000, "USD"))
    list_id = f"{unique}-life"
    await create_list(stub, list_id, entry(sku, (1, 900, "USD")), scope=pb.PriceListScope(channel="web"))
    web = {"channel": "web", "currency": "USD"}
    assert (await prices(stub, [(sku, 1)], **web)).prices[0].unit_price.amount == 900

    await stub.SetPriceListEntries(
        pb.SetPriceListEntriesRequest(
            price_list_id=list_id, entries=[entry(sku, (1, 850, "USD"), (5, 800, "USD")), entry(other, (1, 700, "USD"))]
        ),
        metadata=ADMIN,
    )
    got = await stub.GetPriceList(pb.GetPriceListRequest(id=list_id), metadata=ADMIN)
    assert [(e.sku, [(t.min_quantity, t.unit_price.amount) for t in e.tiers]) for e in got.entries] == [
        (sku, [(1, 850), (5, 800)]),
        (other, [(1, 700)]),
    ]
    assert [p.unit_price.amount for p in (await prices(stub, [(sku, 5), (other, 1)], **web)).prices] == [800, 700]

    deleted = await stub.DeletePriceListEntries(
        pb.DeletePriceListEntriesRequest(price_list_id=list_id, skus=[other]), metadata=ADMIN
    )
    assert deleted.deleted == 1
    assert (await prices(stub, [(other, 1)], **web)).prices[0].unit_price.amount == 1000

    updated = got.price_list
    updated.active = False
    await stub.UpdatePriceList(pb.UpdatePriceListRequest(price_list=updated), metadata=ADMIN)
    assert (await prices(stub, [(sku, 5)], **web)).prices[0].unit_price.amount == 1000  # inactive: base

    for index in range(3):
        await create_list(stub, f"{unique}-page-{index}")
    seen, token = [], ""
    while True:
        page = await stub.ListPriceLists(
            pb.ListPriceListsRequest(page=common_pb2.PageRequest(page_size=2, page_token=token)), metadata=ADMIN
        )
        seen += [item.id for item in page.price_lists]
        token = page.page.next_page_token
        if not token:
            break
    assert [i for i in seen if i.startswith(f"{unique}-page")] == [f"{unique}-page-{i}" for i in range(3)]
    assert seen == sorted(seen) and len(seen) == len(set(seen))


# ------------------------------------------------------------------------------------------------
# Events


async def test_base_price_changes_are_audited_and_published(pricing: Any, unique: str, js: JetStreamContext) -> None:
    stub = pricing.stub
    sku = f"{unique}-E"
    assert (await set_base(stub, (sku, 1000, "USD"))).changed == 1
    assert (await set_base(stub, (sku, 1000, "USD"))).changed == 0  # same price: no change, no event
    assert (await set_base(stub, (sku, 1100, "USD"))).changed == 1

    log = await stub.ListPriceChanges(pb.ListPriceChangesRequest(sku=sku), metadata=ADMIN)
    assert [(c.old_price.amount if c.HasField("old_price") else None, c.new_price.amount) for c in log.changes] == [
        (1000, 1100),
        (None, 1000),
    ]
    assert all(c.cause == events_pb2.PRICE_CHANGE_CAUSE_BASE_PRICE_SET for c in log.changes)

    def is_ours(data: bytes) -> bool:
        event = events_pb2.PriceChanged.FromString(data)
        return event.sku == sku and event.new_price.amount == 1100

    event = events_pb2.PriceChanged.FromString(await find_event(js, "shop.pricing.price_changed", is_ours))
    assert event.old_price == money(1000) and event.meta.aggregate_id == sku and event.meta.event_id
    assert event.audit_id == log.changes[0].id


# ------------------------------------------------------------------------------------------------
# Demo data


async def test_demo_pricing_seeds_idempotently_and_prices_like_the_docs_say(pricing: Any, unique: str) -> None:
    skus = [f"{unique}-D{i}" for i in range(3)]
    await seed_demo(pricing.stub, skus)
    await seed_demo(pricing.stub, skus)  # the launcher may seed again: nothing fails
    sku = skus[0]
    usd = demo_usd_cents(sku)
    acme = await prices(pricing.stub, [(sku, 1)], account_id=ACME_ACCOUNT, customer_group="wholesale")
    assert acme.prices[0].reason.price_list_id == ACME_ACCOUNT
    assert acme.prices[0].unit_price.amount == usd - (usd * 3000 + 5000) // 10_000
    wholesale = await prices(pricing.stub, [(sku, 50)], customer_group="wholesale")
    assert wholesale.prices[0].reason.tier_min_quantity == 50
    quote = await pricing.stub.Quote(
        pb.QuoteRequest(
            lines=[pb.QuoteLine(sku=sku, quantity=1)],
            coupon_code=WELCOME_COUPON.lower(),
            context=common_pb2.CustomerContext(customer_id=f"{unique}-new", currency="EUR"),
        ),
        metadata=CUSTOMER,
    )
    assert quote.coupon.applied and quote.total.currency == "EUR"
    assert quote.total.amount == quote.subtotal.amount - (quote.subtotal.amount * 1000 + 5000) // 10_000
