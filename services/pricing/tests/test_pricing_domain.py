"""Pure pricing rules: price selection, conversion rounding, promotions, dynamic steps. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shop_pricing.domain.currency import (
    ExchangeRate,
    conversion_between,
    convert,
    format_money,
    parse_rate,
)
from shop_pricing.domain.dynamic import DynamicPrice, DynamicRule, next_price
from shop_pricing.domain.promotions import (
    Coupon,
    CouponCandidate,
    CouponProblem,
    DiscountKind,
    DiscountTarget,
    PricedLine,
    Promotion,
    apply_promotions,
)
from shop_pricing.domain.selection import (
    BasePrice,
    CustomerScope,
    ListKind,
    ListScope,
    PriceListHeader,
    PriceSource,
    SelectedPrice,
    Tier,
    resolve_base_price,
    select_price,
)
from shopkit.money import Money

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BASE = BasePrice("SKU-1", Money(1000, "USD"))


def plist(
    list_id: str,
    *,
    kind: ListKind = ListKind.OVERRIDE,
    priority: int = 0,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    active: bool = True,
    **scope: str,
) -> PriceListHeader:
    return PriceListHeader(list_id, list_id.title(), kind, ListScope(**scope), priority, valid_from, valid_to, active)


def tier(
    header: PriceListHeader, amount: int, min_quantity: int = 1, currency: str = "USD", sku: str = "SKU-1"
) -> Tier:
    return Tier(header, sku, currency, min_quantity, amount)


ACME = {"account_id": "acme", "customer_group": "wholesale", "channel": "b2b", "country": "DE"}
RETAIL = {"customer_group": "retail", "channel": "web", "country": "US"}

# (case, tiers, customer, quantity, expected unit amount, expected winner: list id or "base")
SELECTION_CASES: list[tuple[str, list[Tier], dict[str, str], int, int, str]] = [
    ("no lists: base", [], RETAIL, 1, 1000, "base"),
    (
        "account list beats group list beats base",
        [tier(plist("group", customer_group="wholesale"), 800), tier(plist("acct", account_id="acme"), 950)],
        ACME,
        1,
        950,
        "acct",
    ),
    ("group list beats base", [tier(plist("group", customer_group="wholesale"), 800)], ACME, 1, 800, "group"),
    (
        "group list beats channel list",
        [tier(plist("chan", channel="b2b"), 700), tier(plist("group", customer_group="wholesale"), 900)],
        ACME,
        1,
        900,
        "group",
    ),
    (
        "channel list beats unscoped list",
        [tier(plist("all"), 700), tier(plist("chan", channel="b2b"), 900)],
        ACME,
        1,
        900,
        "chan",
    ),
    (
        "country list ranks like channel; more fields set wins",
        [tier(plist("de", country="DE"), 700), tier(plist("de-b2b", country="DE", channel="b2b"), 900)],
        ACME,
        1,
        900,
        "de-b2b",
    ),
    (
        "account+group beats account alone",
        [
            tier(plist("acct", account_id="acme"), 700),
            tier(plist("acct-ws", account_id="acme", customer_group="wholesale"), 900),
        ],
        ACME,
        1,
        900,
        "acct-ws",
    ),
    (
        "a more specific list beats a higher priority of a less specific one",
        [tier(plist("all", priority=100), 500), tier(plist("group", customer_group="wholesale"), 900)],
        ACME,
        1,
        900,
        "group",
    ),
    (
        "equal specificity: higher priority wins even when dearer",
        [
            tier(plist("g-low", customer_group="wholesale"), 800),
            tier(plist("g-high", customer_group="wholesale", priority=5), 950),
        ],
        ACME,
        1,
        950,
        "g-high",
    ),
    (
        "equal specificity and priority: lowest price",
        [tier(plist("g-a", customer_group="wholesale"), 900), tier(plist("g-b", customer_group="wholesale"), 850)],
        ACME,
        1,
        850,
        "g-b",
    ),
    (
        "full tie: lowest id",
        [tier(plist("g-b", customer_group="wholesale"), 850), tier(plist("g-a", customer_group="wholesale"), 850)],
        ACME,
        1,
        850,
        "g-a",
    ),
    (
        "tiers: below the first break",
        [tier(plist("t"), 900), tier(plist("t"), 800, 10), tier(plist("t"), 700, 50)],
        RETAIL,
        9,
        900,
        "t",
    ),
    (
        "tiers: exactly at a break",
        [tier(plist("t"), 900), tier(plist("t"), 800, 10), tier(plist("t"), 700, 50)],
        RETAIL,
        10,
        800,
        "t",
    ),
    (
        "tiers: above the last break",
        [tier(plist("t"), 900), tier(plist("t"), 800, 10), tier(plist("t"), 700, 50)],
        RETAIL,
        60,
        700,
        "t",
    ),
    (
        "tiers: a list whose only tier needs more units does not apply",
        [tier(plist("t"), 700, 10)],
        RETAIL,
        5,
        1000,
        "base",
    ),
    (
        "window in the past is ignored",
        [tier(plist("old", valid_from=NOW - 2 * HOUR, valid_to=NOW - HOUR), 500)],
        RETAIL,
        1,
        1000,
        "base",
    ),
    ("window in the future is ignored", [tier(plist("soon", valid_from=NOW + HOUR), 500)], RETAIL, 1, 1000, "base"),
    (
        "window containing now applies",
        [tier(plist("now", valid_from=NOW - HOUR, valid_to=NOW + HOUR), 500)],
        RETAIL,
        1,
        500,
        "now",
    ),
    ("valid_from is inclusive", [tier(plist("from-now", valid_from=NOW), 500)], RETAIL, 1, 500, "from-now"),
    ("valid_to is exclusive", [tier(plist("until-now", valid_to=NOW), 500)], RETAIL, 1, 1000, "base"),
    ("inactive list is ignored", [tier(plist("off", active=False), 500)], RETAIL, 1, 1000, "base"),
    ("entry in another currency is ignored", [tier(plist("eur"), 500, currency="EUR")], RETAIL, 1, 1000, "base"),
    (
        "list scoped to another currency is ignored",
        [tier(plist("eur-only", currency="EUR"), 500)],
        RETAIL,
        1,
        1000,
        "base",
    ),
    ("list scoped to the currency applies", [tier(plist("usd-only", currency="USD"), 500)], RETAIL, 1, 500, "usd-only"),
    ("list for another country is ignored", [tier(plist("de", country="DE"), 500)], RETAIL, 1, 1000, "base"),
    ("list for the customer's country applies", [tier(plist("us", country="US"), 500)], RETAIL, 1, 500, "us"),
    ("list for another account is ignored", [tier(plist("other", account_id="globex"), 500)], ACME, 1, 1000, "base"),
    ("list for another group is ignored", [tier(plist("vip", customer_group="vip"), 500)], RETAIL, 1, 1000, "base"),
    ("sale not below base is ignored", [tier(plist("sale", kind=ListKind.SALE), 1000)], RETAIL, 1, 1000, "base"),
    ("sale below base applies", [tier(plist("sale", kind=ListKind.SALE), 900)], RETAIL, 1, 900, "sale"),
    (
        "override above base applies (contract price)",
        [tier(plist("contract", account_id="acme"), 1200)],
        ACME,
        1,
        1200,
        "contract",
    ),
    (
        "a dropped sale lets a less specific list win",
        [tier(plist("g-sale", kind=ListKind.SALE, customer_group="wholesale"), 1100), tier(plist("all"), 990)],
        ACME,
        1,
        990,
        "all",
    ),
    ("entries of other SKUs are ignored", [tier(plist("x"), 500, sku="SKU-2")], RETAIL, 1, 1000, "base"),
]


@pytest.mark.parametrize(
    ("case", "tiers", "customer", "quantity", "amount", "winner"),
    SELECTION_CASES,
    ids=[case[0] for case in SELECTION_CASES],
)
def test_price_selection(
    case: str, tiers: list[Tier], customer: dict[str, str], quantity: int, amount: int, winner: str
) -> None:
    selected = select_price(BASE, quantity, CustomerScope(currency="USD", **customer), tiers, NOW)
    assert selected.unit_price == Money(amount, "USD")
    assert selected.original_price == Money(1000, "USD")
    if winner == "base":
        assert selected.source is PriceSource.BASE and selected.price_list is None
        assert selected.describe() == "base"
    else:
        assert selected.source is PriceSource.PRICE_LIST and selected.price_list is not None
        assert selected.price_list.id == winner


def test_selection_reports_the_winning_tier() -> None:
    header = plist("ws", customer_group="wholesale")
    selected = select_price(BASE, 12, CustomerScope("USD", **ACME), [tier(header, 900), tier(header, 800, 10)], NOW)
    assert selected.tier_min_quantity == 10
    assert selected.describe() == "price list ws (Ws, override), tier >= 10"


def test_selection_does_not_depend_on_input_order() -> None:
    tiers = [tier(plist(f"l{i}", priority=i % 3), 900 - i) for i in range(12)]
    customer = CustomerScope("USD")
    first = select_price(BASE, 1, customer, tiers, NOW)
    assert select_price(BASE, 1, customer, list(reversed(tiers)), NOW) == first
    assert first.price_list is not None and first.price_list.id == "l11"  # priority 2, then cheapest


# ------------------------------------------------------------------------------------------------
# Currency conversion


def rate(base: str, quote: str, value: str) -> ExchangeRate:
    parsed = parse_rate(value)
    assert parsed is not None
    return ExchangeRate(base, quote, parsed)


@pytest.mark.parametrize(
    ("amount", "source", "target", "rates", "expected"),
    [
        (1999, "USD", "EUR", [rate("USD", "EUR", "0.9215")], 1842),  # 1842.0785 -> down
        (1999, "USD", "EUR", [rate("USD", "EUR", "0.92")], 1839),  # 1839.08
        (1, "USD", "EUR", [rate("USD", "EUR", "0.5")], 1),  # 0.5 -> half away from zero
        (3, "USD", "EUR", [rate("USD", "EUR", "0.5")], 2),  # 1.5 -> 2
        (1999, "USD", "JPY", [rate("USD", "JPY", "151.5")], 3028),  # exponent 0: 3028.485 yen
        (1000, "JPY", "USD", [rate("USD", "JPY", "151.5")], 660),  # inverse: 6.6007 USD
        (1000, "USD", "KWD", [rate("USD", "KWD", "0.307")], 3070),  # exponent 3: 3.070 KWD
        (2500, "EUR", "USD", [rate("USD", "EUR", "0.8")], 3125),  # inverse is exact: 25 / 0.8
        (1, "EUR", "USD", [rate("USD", "EUR", "3")], 0),  # 0.333 -> 0
        (2, "EUR", "USD", [rate("USD", "EUR", "3")], 1),  # 0.667 -> 1
    ],
)
def test_conversion_rounds_once_half_away_from_zero(
    amount: int, source: str, target: str, rates: list[ExchangeRate], expected: int
) -> None:
    conversion = conversion_between(source, target, rates)
    assert conversion is not None
    assert convert(amount, conversion) == expected


def test_direct_rate_wins_over_the_inverse_and_a_missing_pair_is_none() -> None:
    rates = [rate("USD", "EUR", "0.9"), rate("EUR", "USD", "1.2")]
    conversion = conversion_between("USD", "EUR", rates)
    assert conversion is not None and conversion.text == "0.9"
    inverse = conversion_between("GBP", "USD", [rate("USD", "GBP", "0.8")])
    assert inverse is not None and inverse.text == "1/0.8"
    assert conversion_between("USD", "CHF", rates) is None


@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "NaN", "Infinity", "1e-13", "0.0000000000001", "1000000000"])
def test_bad_rates_are_refused(text: str) -> None:
    assert parse_rate(text) is None


def test_good_rates_parse_exactly() -> None:
    assert parse_rate("0.9215") == Decimal("0.9215")
    assert parse_rate(" 151.5 ") == Decimal("151.5")
    assert parse_rate("0.000000000001") == Decimal("0.000000000001")


def test_money_is_formatted_with_the_currency_exponent() -> None:
    assert format_money(1999, "USD") == "19.99 USD"
    assert format_money(500, "JPY") == "500 JPY"
    assert format_money(1005, "KWD") == "1.005 KWD"


def test_base_price_prefers_the_currency_then_converts_the_reference() -> None:
    amounts = {("A", "USD"): 1999, ("A", "EUR"): 1899, ("B", "USD"): 1999}
    rates = [rate("USD", "EUR", "0.9215")]
    direct = resolve_base_price("A", "EUR", "USD", amounts, rates)
    assert direct == BasePrice("A", Money(1899, "EUR"))
    converted = resolve_base_price("B", "EUR", "USD", amounts, rates)
    assert converted is not None and converted.price == Money(1842, "EUR") and converted.converted_from == "USD"
    selected = select_price(converted, 1, CustomerScope("EUR"), [], NOW)
    assert selected.describe() == "base (converted from USD at 0.9215)"
    assert resolve_base_price("B", "GBP", "USD", amounts, rates) is None  # no USD->GBP rate
    assert resolve_base_price("C", "USD", "USD", amounts, rates) is None  # unknown SKU


# ------------------------------------------------------------------------------------------------
# Promotions


def line(index: int, sku: str, unit: int, quantity: int, currency: str = "USD") -> PricedLine:
    base = BasePrice(sku, Money(unit, currency))
    return PricedLine(index, SelectedPrice(sku, quantity, Money(unit, currency), base, PriceSource.BASE), quantity)


def promo(
    promotion_id: str,
    *,
    percent_bp: int = 0,
    amount_off: int = 0,
    skus: frozenset[str] = frozenset(),
    min_spend: int | None = None,
    currency: str = "USD",
    **extra: Any,
) -> Promotion:
    return Promotion(
        id=promotion_id,
        name=promotion_id,
        kind=DiscountKind.PERCENT if percent_bp else DiscountKind.AMOUNT,
        target=DiscountTarget.PRODUCTS if skus else DiscountTarget.ORDER,
        percent_bp=percent_bp,
        amount_off=Money(amount_off, currency) if amount_off else None,
        skus=skus,
        min_spend=Money(min_spend, currency) if min_spend is not None else None,
        automatic=extra.pop("automatic", True),
        **extra,
    )


def test_percent_off_the_order_rounds_half_away_from_zero() -> None:
    totals = apply_promotions("USD", [line(0, "A", 12345, 1)], [promo("ten", percent_bp=1000)], None, NOW)
    assert totals.subtotal == Money(12345, "USD")
    assert totals.discount_total == Money(1235, "USD")  # 1234.5 -> 1235
    assert totals.total == Money(11110, "USD")
    assert [d.promotion.id for d in totals.order_discounts] == ["ten"]


@pytest.mark.parametrize(("subtotal_units", "expected_discount"), [(9, 0), (10, 500), (11, 500)])
def test_minimum_spend(subtotal_units: int, expected_discount: int) -> None:
    five_off = promo("five-off", amount_off=500, min_spend=10_000)
    totals = apply_promotions("USD", [line(0, "A", 1000, subtotal_units)], [five_off], None, NOW)
    assert totals.discount_total.amount == expected_discount
    assert totals.total.amount == subtotal_units * 1000 - expected_discount


def test_product_promotions_apply_per_line_then_the_order_promotion_on_the_rest() -> None:
    lines = [line(0, "A", 1000, 2), line(1, "B", 500, 3), line(2, "C", 300, 1)]
    promotions = [
        promo("a-20", percent_bp=2000, skus=frozenset({"A"})),
        promo("b-100", amount_off=100, skus=frozenset({"B"})),  # per unit
        promo("order-10", percent_bp=1000),
    ]
    totals = apply_promotions("USD", lines, promotions, None, NOW)
    assert [q.discount_amount.amount for q in totals.lines] == [400, 300, 0]
    assert [q.total.amount for q in totals.lines] == [1600, 1200, 300]
    assert totals.subtotal.amount == 3800
    assert totals.order_discounts[0].amount.amount == 310  # 10% of 3100
    assert totals.discount_total.amount == 1010
    assert totals.total.amount == 2790


def test_amount_off_is_capped_and_totals_never_go_negative() -> None:
    totals = apply_promotions(
        "USD",
        [line(0, "A", 50, 2)],
        [promo("big", amount_off=80, skus=frozenset({"A"})), promo("huge", amount_off=10_000)],
        None,
        NOW,
    )
    assert totals.lines[0].discount_amount.amount == 100  # 80 per unit, capped at the 100 line subtotal
    assert totals.order_discounts == []  # nothing left to take off
    assert totals.total.amount == 0


def test_only_the_best_promotion_applies_at_each_level() -> None:
    promotions = [promo("ten", percent_bp=1000), promo("fifteen", percent_bp=1500), promo("two-off", amount_off=200)]
    totals = apply_promotions("USD", [line(0, "A", 2000, 1)], promotions, None, NOW)
    assert [(d.promotion.id, d.amount.amount) for d in totals.order_discounts] == [("fifteen", 300)]


def test_promotions_out_of_window_inactive_or_in_another_currency_do_not_apply() -> None:
    promotions = [
        promo("past", percent_bp=5000, valid_to=NOW - HOUR),
        promo("future", percent_bp=5000, valid_from=NOW + HOUR),
        promo("off", percent_bp=5000, active=False),
        promo("eur", amount_off=100, currency="EUR"),
        promo("coupon-only", percent_bp=5000, automatic=False),
    ]
    totals = apply_promotions("USD", [line(0, "A", 1000, 1)], promotions, None, NOW)
    assert totals.discount_total.amount == 0


WELCOME = promo("welcome", percent_bp=1000, automatic=False)


def candidate(coupon: Coupon | None = None, promotion: Promotion | None = WELCOME, uses: int = 0) -> CouponCandidate:
    return CouponCandidate("WELCOME10", coupon or Coupon("WELCOME10", "welcome"), promotion, uses)


@pytest.mark.parametrize(
    ("case", "coupon", "lines", "automatic", "problem"),
    [
        ("applied", candidate(), [line(0, "A", 1000, 1)], [], None),
        ("unknown code", CouponCandidate("NOPE", None, None), [line(0, "A", 1000, 1)], [], CouponProblem.NOT_FOUND),
        (
            "inactive coupon",
            candidate(Coupon("WELCOME10", "welcome", active=False)),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.INACTIVE,
        ),
        (
            "expired",
            candidate(promotion=promo("welcome", percent_bp=1000, automatic=False, valid_to=NOW)),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.EXPIRED,
        ),
        (
            "not yet valid",
            candidate(promotion=promo("welcome", percent_bp=1000, automatic=False, valid_from=NOW + HOUR)),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.NOT_YET_VALID,
        ),
        (
            "used up",
            candidate(Coupon("WELCOME10", "welcome", usage_limit_total=5, times_used=5)),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.USAGE_LIMIT_REACHED,
        ),
        (
            "used up by this customer",
            candidate(Coupon("WELCOME10", "welcome", usage_limit_per_customer=1), uses=1),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.CUSTOMER_LIMIT_REACHED,
        ),
        (
            "minimum spend",
            candidate(promotion=promo("welcome", percent_bp=1000, automatic=False, min_spend=5000)),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.MIN_SPEND_NOT_MET,
        ),
        (
            "currency",
            candidate(promotion=promo("welcome", amount_off=100, automatic=False, currency="EUR")),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.CURRENCY_MISMATCH,
        ),
        (
            "products not in basket",
            candidate(promotion=promo("welcome", percent_bp=1000, automatic=False, skus=frozenset({"Z"}))),
            [line(0, "A", 1000, 1)],
            [],
            CouponProblem.NOT_APPLICABLE,
        ),
        (
            "a better automatic promotion",
            candidate(),
            [line(0, "A", 1000, 1)],
            [promo("auto-20", percent_bp=2000)],
            CouponProblem.NOT_BEST,
        ),
    ],
)
def test_coupon_outcomes(
    case: str,
    coupon: CouponCandidate,
    lines: list[PricedLine],
    automatic: list[Promotion],
    problem: CouponProblem | None,
) -> None:
    totals = apply_promotions("USD", lines, automatic, coupon, NOW)
    assert totals.coupon is not None
    assert totals.coupon.problem is problem
    if problem is None:
        assert totals.order_discounts[0].coupon_code == "WELCOME10"
        assert totals.total.amount == 900
        assert totals.coupon.discount == Money(100, "USD")
    else:
        assert all(d.coupon_code == "" for d in totals.order_discounts)
        assert totals.coupon.discount == Money(0, "USD")
    if problem is CouponProblem.MIN_SPEND_NOT_MET:
        assert totals.coupon.describe() == "spend 40.00 USD more to use this coupon"


@pytest.mark.parametrize(
    ("coupon", "problem"),
    [
        (candidate(), CouponProblem.NOT_APPLICABLE),
        (candidate(promotion=promo("welcome", amount_off=500, automatic=False)), CouponProblem.NOT_APPLICABLE),
        (
            candidate(promotion=promo("welcome", percent_bp=1000, automatic=False, min_spend=5000)),
            CouponProblem.MIN_SPEND_NOT_MET,
        ),
        (candidate(Coupon("WELCOME10", "welcome", active=False)), CouponProblem.INACTIVE),
        (CouponCandidate("NOPE", None, None), CouponProblem.NOT_FOUND),
    ],
)
def test_a_coupon_checked_on_an_empty_basket(coupon: CouponCandidate, problem: CouponProblem) -> None:
    totals = apply_promotions("USD", [], [promo("auto-20", percent_bp=2000)], coupon, NOW)
    assert totals.coupon is not None and totals.coupon.problem is problem
    assert totals.coupon.discount == Money(0, "USD")
    assert (totals.lines, totals.order_discounts, totals.total) == ([], [], Money(0, "USD"))


# ------------------------------------------------------------------------------------------------
# Dynamic pricing

RULE = DynamicRule(
    id="r",
    name="r",
    skus=frozenset({"A"}),
    low_stock_threshold=10,
    raise_bp=2000,
    high_stock_threshold=100,
    lower_bp=1000,
    floor_bp=8500,
    ceiling_bp=11500,
    max_step_bp=500,
    cooldown_seconds=60,
)


def state(amount: int, anchor: int = 10_000, last: datetime | None = None) -> DynamicPrice:
    return DynamicPrice("A", "USD", amount, anchor, last)


@pytest.mark.parametrize(
    ("case", "amount", "available", "expected"),
    [
        ("low stock: one bounded step up", 10_000, 5, 10_500),
        ("low stock: steps stop at the ceiling (target 120% clamped to 115%)", 11_200, 5, 11_500),
        ("low stock: at the ceiling nothing changes", 11_500, 5, None),
        ("high stock: one bounded step down", 10_000, 500, 9_500),
        ("high stock: stops at the target 90%", 9_200, 500, 9_000),
        ("normal stock: back towards the anchor", 11_500, 50, 11_000),
        ("normal stock at the anchor: nothing", 10_000, 50, None),
        ("threshold is strict: exactly low is normal", 10_000, 10, None),
        ("threshold is strict: exactly high is normal", 10_000, 100, None),
        ("a price outside the bounds is brought inside", 20_000, 50, 11_500),
    ],
)
def test_dynamic_steps(case: str, amount: int, available: int, expected: int | None) -> None:
    assert next_price(RULE, state(amount), available, NOW) == expected


def test_dynamic_floor_bounds_the_target() -> None:
    deep_cut = DynamicRule(
        id="r",
        name="r",
        skus=frozenset({"A"}),
        high_stock_threshold=100,
        lower_bp=5000,
        floor_bp=8500,
        ceiling_bp=10_000,
        max_step_bp=10_000,
    )
    assert next_price(deep_cut, state(10_000), 500, NOW) == 8_500


def test_dynamic_cooldown_and_disabled_rules() -> None:
    recent = state(10_000, last=NOW - timedelta(seconds=59))
    assert next_price(RULE, recent, 5, NOW) is None
    cooled = state(10_000, last=NOW - timedelta(seconds=60))
    assert next_price(RULE, cooled, 5, NOW) == 10_500
    disabled = DynamicRule(
        id="r", name="r", skus=frozenset({"A"}), low_stock_threshold=10, raise_bp=2000, ceiling_bp=12_000, enabled=False
    )
    assert next_price(disabled, state(10_000), 5, NOW) is None


def test_dynamic_steps_converge_and_never_leave_the_bounds() -> None:
    amount = 10_000
    seen = []
    for _ in range(10):
        moved = next_price(RULE, state(amount), 0, NOW)
        if moved is None:
            break
        assert abs(moved - amount) <= 500
        amount = moved
        seen.append(amount)
    assert seen == [10_500, 11_000, 11_500]
