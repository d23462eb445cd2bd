"""Pure shipping and tax rules: zones, rates, free thresholds, per-line tax and its rounding. No database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shop_pricing.domain.shipping import Destination, RateBand, RateKind, ShippingMethod, choose, shipping_options
from shop_pricing.domain.tax import TaxRule, added_tax, contained_tax, rule_for, spread, tax_of_quote
from shopkit.money import Money, minor_units

VAT_DE = TaxRule("DE", "", "VAT", 1900, True, True, True)
CA = TaxRule("US", "CA", "CA sales tax", 725, False, False, True)
GB = TaxRule("GB", "", "VAT", 2000, True, True, False)


def method(method_id: str, code: str, price: int, **fields: object) -> ShippingMethod:
    values: dict[str, object] = {
        "name": code.title(),
        "countries": frozenset({"US"}),
        "regions": frozenset(),
        "min_days": 1,
        "max_days": 3,
        "rate_kind": RateKind.FLAT,
        "currency": "USD",
        "flat_price": Money(price, "USD"),
    }
    values.update(fields)
    return ShippingMethod(id=method_id, code=code, **values)  # type: ignore[arg-type]


def test_options_are_the_zone_s_methods_in_the_quote_s_currency_cheapest_first() -> None:
    methods = [
        method("us-express", "express", 1999),
        method("us-standard", "standard", 599),
        method("eu-standard", "standard", 490, countries=frozenset({"DE"}), currency="EUR"),
        method("us-off", "slow", 100, active=False),
    ]
    options = shipping_options(methods, Destination("US", "CA"), "USD", 5000, 0)
    assert [(o.code, o.price.amount) for o in options] == [("standard", 599), ("express", 1999)]
    assert shipping_options(methods, Destination("US", "CA"), "EUR", 5000, 0) == []
    assert shipping_options(methods, Destination("US", pickup=True), "USD", 5000, 0) == []
    assert choose(options, "") == options[0]
    assert choose(options, "express") == options[1]
    assert choose(options, "overnight") is None


def test_a_region_s_method_wins_over_its_country_s_with_the_same_code() -> None:
    west = method("us-west", "standard", 399, regions=frozenset({"US-CA"}))
    methods = [method("us-standard", "standard", 599), west]
    assert choose(shipping_options(methods, Destination("US", "CA"), "USD", 0, 0), "standard").price.amount == 399  # type: ignore[union-attr]
    assert choose(shipping_options(methods, Destination("US", "NY"), "USD", 0, 0), "standard").price.amount == 599  # type: ignore[union-attr]
    assert shipping_options([west], Destination("US", "NY"), "USD", 0, 0) == []


def test_weight_and_value_bands_and_the_free_threshold() -> None:
    bands = (RateBand(0, Money(599, "USD")), RateBand(2000, Money(899, "USD")), RateBand(10000, Money(1499, "USD")))
    by_weight = method("w", "standard", 0, rate_kind=RateKind.WEIGHT, flat_price=None, bands=bands,
                       free_over=Money(10000, "USD"))  # fmt: skip
    assert by_weight.price(5000, 0) == (Money(599, "USD"), False)
    assert by_weight.price(5000, 1999) == (Money(599, "USD"), False)
    assert by_weight.price(5000, 2000) == (Money(899, "USD"), False)
    assert by_weight.price(9999, 50000) == (Money(1499, "USD"), False)
    assert by_weight.price(10000, 50000) == (Money(0, "USD"), True)
    by_value = method("v", "standard", 0, rate_kind=RateKind.ORDER_VALUE, flat_price=None, bands=bands)
    assert by_value.price(1999, 99999) == (Money(599, "USD"), False)
    assert by_value.price(2000, 0) == (Money(899, "USD"), False)


def test_the_region_s_rule_wins_over_the_country_s() -> None:
    us = TaxRule("US", "", "none", 0, False, False, False)
    assert rule_for([us, CA], "US", "CA") == CA
    assert rule_for([us, CA], "US", "NY") == us
    assert rule_for([CA], "US", "NY") is None
    assert rule_for([VAT_DE], "DE", "BE") == VAT_DE


def test_sales_tax_is_added_per_line_half_up() -> None:
    # 7.25 % of 1000 = 72.5 -> 73; of 999 = 72.4275 -> 72; shipping untaxed in CA.
    result = tax_of_quote(CA, [1000, 999], 0, 599, exempt_buyer=False)
    assert result.line_taxes == (73, 72)
    assert result.shipping_tax == 0
    assert (result.total, result.added, result.included) == (145, 145, False)


def test_vat_is_the_part_of_the_price_that_is_tax() -> None:
    # 119.00 gross at 19 %: net 100.00, tax 19.00; 4.90 shipping: net 4.12, tax 0.78.
    result = tax_of_quote(VAT_DE, [11900], 0, 490, exempt_buyer=False)
    assert result.line_taxes == (1900,)
    assert result.shipping_tax == 78
    assert (result.added, result.included) == (0, True)


def test_order_discounts_are_spread_over_the_lines_before_tax() -> None:
    assert spread(100, [300, 100]) == [75, 25]
    assert spread(1, [1, 1, 1]) == [1, 0, 0]
    assert spread(0, [5]) == [0]
    result = tax_of_quote(CA, [3000, 1000], 400, 0, exempt_buyer=False)
    assert result.line_taxes == (added_tax(2700, 725), added_tax(900, 725))


def test_a_b2b_buyer_with_a_tax_id_is_exempt_only_where_the_rule_allows() -> None:
    assert tax_of_quote(VAT_DE, [11900], 0, 490, exempt_buyer=True).total == 0
    assert tax_of_quote(VAT_DE, [11900], 0, 490, exempt_buyer=True).exempt
    assert tax_of_quote(GB, [12000], 0, 0, exempt_buyer=True).line_taxes == (2000,)


def test_amounts_are_minor_units_of_each_currency() -> None:
    # The rules work on integer minor units; the currency table says what a unit is.
    assert (minor_units("JPY"), minor_units("KWD"), minor_units("EUR")) == (0, 3, 2)
    jp = TaxRule("JP", "", "consumption tax", 1000, True, True, False)
    assert tax_of_quote(jp, [1100], 0, 0, exempt_buyer=False).line_taxes == (100,)  # 1,100 yen: 100 yen tax
    kw = TaxRule("KW", "", "VAT", 500, False, False, False)
    assert tax_of_quote(kw, [12345], 0, 0, exempt_buyer=False).line_taxes == (617,)  # 12.345 KWD: 0.617 (0.61725)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10_000))
def test_inclusive_tax_and_net_add_up_to_the_gross(gross: int, rate_bp: int) -> None:
    tax = contained_tax(gross, rate_bp)
    net = gross - tax
    assert 0 <= tax <= gross
    # The net is the gross without the tax, to the nearest minor unit.
    assert abs(net * (10_000 + rate_bp) - gross * 10_000) * 2 <= 10_000 + rate_bp


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10_000))
def test_added_tax_is_the_rate_rounded_half_up(net: int, rate_bp: int) -> None:
    tax = added_tax(net, rate_bp)
    assert abs(tax * 10_000 - net * rate_bp) * 2 <= 10_000
    assert (tax * 10_000 - net * rate_bp) * 2 != -10_000  # a half goes up


@given(st.integers(min_value=0, max_value=10**9), st.lists(st.integers(min_value=0, max_value=10**9), min_size=1))
def test_spread_parts_add_up(amount: int, weights: list[int]) -> None:
    parts = spread(amount, weights)
    assert sum(parts) == (amount if sum(weights) > 0 else 0)
    assert all(p >= 0 for p in parts)
