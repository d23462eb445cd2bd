"""Demo price data for the local launcher's seed: deterministic per SKU, so seeding twice changes nothing.

`demo_pricing(skus)` builds the admin requests; `seed_demo(stub, skus)` sends them in order
(every one is idempotent: same base prices and entries, identical lists/promotions/coupon are
accepted again).

What it creates for the given SKUs:
- base prices in USD (5.99-199.99, from a hash of the SKU) and EUR (about 0.92x, ending in .99);
  rates USD->EUR 0.92, USD->GBP 0.79, USD->JPY 151.5, so GBP and JPY prices are converted from USD;
- price list `wholesale` (customer group "wholesale", override): 15% off, tiers 10+ at 20% off and
  50+ at 25% off (USD), 15% off (EUR);
- price list `acme-corp` (B2B account "acme-corp", override): 30% off in USD, 35% off from 100 units;
- promotion `welcome10`: 10% off the order, only with coupon WELCOME10 (once per customer);
- shipping: `standard` and `express` for the US (USD; standard free, express by weight and free from
  250.00), the EU countries DE and FR (EUR; standard free from 60.00) and GB (GBP; standard free
  from 50.00);
- tax: US sales tax added on top in CA (7.25 %) and NY (4 %, shipping taxed); VAT included in the
  prices in DE (19 %), FR (20 %) and GB (20 %), shipping taxed; B2B buyers with a tax id are exempt
  in the US states and the EU countries (reverse charge), not in GB.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shopkit.auth import metadata_for
from shopkit.money import percent_of

WELCOME_COUPON = "WELCOME10"
ACME_ACCOUNT = "acme-corp"
WHOLESALE_GROUP = "wholesale"
DEMO_RATES = (("USD", "EUR", "0.92"), ("USD", "GBP", "0.79"), ("USD", "JPY", "151.5"))


@dataclass
class DemoPricing:
    """The admin requests that create the demo data, in the order they must be sent."""

    rates: list[pricing_pb2.SetRateRequest] = field(default_factory=list)
    base_prices: list[pricing_pb2.SetBasePricesRequest] = field(default_factory=list)
    price_lists: list[pricing_pb2.CreatePriceListRequest] = field(default_factory=list)
    price_list_entries: list[pricing_pb2.SetPriceListEntriesRequest] = field(default_factory=list)
    promotions: list[pricing_pb2.CreatePromotionRequest] = field(default_factory=list)
    coupons: list[pricing_pb2.CreateCouponRequest] = field(default_factory=list)
    shipping_methods: list[pricing_pb2.PutShippingMethodRequest] = field(default_factory=list)
    tax_rules: list[pricing_pb2.PutTaxRuleRequest] = field(default_factory=list)


def demo_usd_cents(sku: str) -> int:
    """A stable price for a SKU between 5.00 and 199.99 USD, ending in .99."""
    return 499 + (zlib.crc32(sku.encode()) % 195) * 100 + 100


def _eur_cents(usd: int) -> int:
    return (usd * 92 // 100) // 100 * 100 + 99


def _money(amount: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def _off(amount: int, bp: int) -> int:
    return amount - percent_of(amount, bp)


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _flat(
    method_id: str, code: str, name: str, countries: Sequence[str], days: tuple[int, int], price: int, currency: str
) -> pricing_pb2.ShippingMethod:
    return pricing_pb2.ShippingMethod(
        id=method_id,
        code=code,
        name=name,
        zone=pricing_pb2.ShippingZone(countries=countries),
        min_delivery_days=days[0],
        max_delivery_days=days[1],
        rate_kind=pricing_pb2.SHIPPING_RATE_KIND_FLAT,
        flat_price=_money(price, currency),
        active=True,
    )


def demo_shipping() -> list[pricing_pb2.PutShippingMethodRequest]:
    us_express = pricing_pb2.ShippingMethod(
        id="us-express",
        code="express",
        name="Express (1-2 business days)",
        zone=pricing_pb2.ShippingZone(countries=["US"]),
        min_delivery_days=1,
        max_delivery_days=2,
        rate_kind=pricing_pb2.SHIPPING_RATE_KIND_WEIGHT,
        free_over=_money(25000, "USD"),
        active=True,
    )
    for start, price in ((0, 1499), (2000, 1999), (10000, 2999)):
        band = us_express.bands.add(price=_money(price, "USD"))
        setattr(band, "from", start)
    eu_standard = _flat("eu-standard", "standard", "Standard (2-4 business days)", ["DE", "FR"], (2, 4), 490, "EUR")
    eu_standard.free_over.CopyFrom(_money(6000, "EUR"))
    gb_standard = _flat("gb-standard", "standard", "Standard (2-3 business days)", ["GB"], (2, 3), 399, "GBP")
    gb_standard.free_over.CopyFrom(_money(5000, "GBP"))
    methods = [
        _flat("us-standard", "standard", "Standard (5-7 business days)", ["US"], (5, 7), 0, "USD"),
        us_express,
        eu_standard,
        _flat("eu-express", "express", "Express (1 business day)", ["DE", "FR"], (1, 1), 1290, "EUR"),
        gb_standard,
        _flat("gb-express", "express", "Express (next day)", ["GB"], (1, 1), 999, "GBP"),
    ]
    return [pricing_pb2.PutShippingMethodRequest(method=m) for m in methods]


def demo_tax_rules() -> list[pricing_pb2.PutTaxRuleRequest]:
    rules = [
        pricing_pb2.TaxRule(country="US", region="CA", name="CA sales tax", rate_bp=725, exempt_with_tax_id=True),
        pricing_pb2.TaxRule(
            country="US", region="NY", name="NY sales tax", rate_bp=400, tax_shipping=True, exempt_with_tax_id=True
        ),
    ]
    for country, rate, exempt in (("DE", 1900, True), ("FR", 2000, True), ("GB", 2000, False)):
        rules.append(
            pricing_pb2.TaxRule(
                country=country,
                name="VAT",
                rate_bp=rate,
                prices_include_tax=True,
                tax_shipping=True,
                exempt_with_tax_id=exempt,
            )
        )
    return [pricing_pb2.PutTaxRuleRequest(rule=rule) for rule in rules]


def demo_pricing(skus: Sequence[str], *, batch: int = 500) -> DemoPricing:
    """The demo requests for `skus` (duplicates are ignored)."""
    unique = list(dict.fromkeys(skus))
    demo = DemoPricing()
    demo.rates = [
        pricing_pb2.SetRateRequest(rate=pricing_pb2.ExchangeRate(base_currency=b, quote_currency=q, rate=r))
        for b, q, r in DEMO_RATES
    ]
    for chunk in _chunks(unique, batch):
        request = pricing_pb2.SetBasePricesRequest()
        for sku in chunk:
            usd = demo_usd_cents(sku)
            request.prices.add(sku=sku, price=_money(usd, "USD"))
            request.prices.add(sku=sku, price=_money(_eur_cents(usd), "EUR"))
        demo.base_prices.append(request)

    wholesale = pricing_pb2.CreatePriceListRequest(
        price_list=pricing_pb2.PriceList(
            id="wholesale",
            name="Wholesale",
            kind=pricing_pb2.PRICE_LIST_KIND_OVERRIDE,
            scope=pricing_pb2.PriceListScope(customer_group=WHOLESALE_GROUP),
            priority=10,
            active=True,
        )
    )
    acme = pricing_pb2.CreatePriceListRequest(
        price_list=pricing_pb2.PriceList(
            id=ACME_ACCOUNT,
            name="ACME Corp contract",
            kind=pricing_pb2.PRICE_LIST_KIND_OVERRIDE,
            scope=pricing_pb2.PriceListScope(account_id=ACME_ACCOUNT, currency="USD"),
            priority=0,
            active=True,
        )
    )
    demo.price_lists = [wholesale, acme]
    for chunk in _chunks(unique, batch):
        wholesale_entries = pricing_pb2.SetPriceListEntriesRequest(price_list_id="wholesale")
        acme_entries = pricing_pb2.SetPriceListEntriesRequest(price_list_id=ACME_ACCOUNT)
        for sku in chunk:
            usd = demo_usd_cents(sku)
            entry = wholesale_entries.entries.add(sku=sku)
            entry.tiers.add(min_quantity=1, unit_price=_money(_off(usd, 1500), "USD"))
            entry.tiers.add(min_quantity=10, unit_price=_money(_off(usd, 2000), "USD"))
            entry.tiers.add(min_quantity=50, unit_price=_money(_off(usd, 2500), "USD"))
            entry.tiers.add(min_quantity=1, unit_price=_money(_off(_eur_cents(usd), 1500), "EUR"))
            acme_entry = acme_entries.entries.add(sku=sku)
            acme_entry.tiers.add(min_quantity=1, unit_price=_money(_off(usd, 3000), "USD"))
            acme_entry.tiers.add(min_quantity=100, unit_price=_money(_off(usd, 3500), "USD"))
        demo.price_list_entries += [wholesale_entries, acme_entries]

    demo.promotions = [
        pricing_pb2.CreatePromotionRequest(
            promotion=pricing_pb2.Promotion(
                id="welcome10",
                name="Welcome: 10% off your first order",
                kind=pricing_pb2.DISCOUNT_KIND_PERCENT,
                percent_bp=1000,
                target=pricing_pb2.DISCOUNT_TARGET_ORDER,
                automatic=False,
                active=True,
            )
        )
    ]
    demo.coupons = [
        pricing_pb2.CreateCouponRequest(
            coupon=pricing_pb2.Coupon(
                code=WELCOME_COUPON,
                promotion_id="welcome10",
                usage_limit_per_customer=1,
                active=True,
            )
        )
    ]
    demo.shipping_methods = demo_shipping()
    demo.tax_rules = demo_tax_rules()
    return demo


async def seed_demo(
    stub: pricing_pb2_grpc.PricingServiceAsyncStub,
    skus: Sequence[str],
    *,
    role: str = "service",
    call_timeout: float = 30.0,
    batch_size: int = 500,
) -> DemoPricing:
    """Send the demo requests to a running pricing service (as role `service`)."""
    demo = demo_pricing(skus, batch=batch_size)
    metadata = metadata_for(role)
    for rate in demo.rates:
        await stub.SetRate(rate, metadata=metadata, timeout=call_timeout)
    for prices in demo.base_prices:
        await stub.SetBasePrices(prices, metadata=metadata, timeout=call_timeout)
    for price_list in demo.price_lists:
        await stub.CreatePriceList(price_list, metadata=metadata, timeout=call_timeout)
    for entries in demo.price_list_entries:
        await stub.SetPriceListEntries(entries, metadata=metadata, timeout=call_timeout)
    for promotion in demo.promotions:
        await stub.CreatePromotion(promotion, metadata=metadata, timeout=call_timeout)
    for coupon in demo.coupons:
        await stub.CreateCoupon(coupon, metadata=metadata, timeout=call_timeout)
    for method in demo.shipping_methods:
        await stub.PutShippingMethod(method, metadata=metadata, timeout=call_timeout)
    for rule in demo.tax_rules:
        await stub.PutTaxRule(rule, metadata=metadata, timeout=call_timeout)
    return demo
