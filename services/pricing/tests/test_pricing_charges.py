"""Shipping methods, tax rules and quotes with a destination, over real gRPC and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shop_pricing.demo import demo_shipping, demo_tax_rules
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error

ADMIN = metadata_for("admin")
CUSTOMER = metadata_for("customer", customer_id="c-1")


def money(amount: int, currency: str = "USD") -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


async def error_of(call: Awaitable[Any]) -> RpcErrorInfo:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return parse_rpc_error(error)
    raise AssertionError("the call succeeded")


async def set_base(stub: Any, sku: str, amount: int, currency: str) -> None:
    request = pb.SetBasePricesRequest(prices=[pb.BasePrice(sku=sku, price=money(amount, currency))])
    await stub.SetBasePrices(request, metadata=ADMIN)


async def seed(stub: Any) -> None:
    for method in demo_shipping():
        await stub.PutShippingMethod(method, metadata=ADMIN)
    for rule in demo_tax_rules():
        await stub.PutTaxRule(rule, metadata=ADMIN)


def fields_of(info: RpcErrorInfo) -> set[str]:
    return {v.field for v in info.violations}


def quote(sku: str, quantity: int, currency: str, **fields: Any) -> pb.QuoteRequest:
    weight = fields.pop("weight", 0)
    return pb.QuoteRequest(
        lines=[pb.QuoteLine(sku=sku, quantity=quantity, weight_grams=weight)],
        context=common_pb2.CustomerContext(
            currency=currency, account_id=fields.pop("account_id", ""), customer_id="c-1"
        ),
        **fields,
    )


async def test_admin_writes_and_lists_methods_and_rules(pricing: Any) -> None:
    stub = pricing.stub
    await seed(stub)
    await seed(stub)  # idempotent: a put replaces
    methods = (await stub.ListShippingMethods(pb.ListShippingMethodsRequest(), metadata=ADMIN)).methods
    assert [m.id for m in methods] == sorted(m.method.id for m in demo_shipping())
    us = next(m for m in methods if m.id == "us-express")
    assert [getattr(b, "from") for b in us.bands] == [0, 2000, 10000]
    assert us.free_over == money(25000)
    rules = (await stub.ListTaxRules(pb.ListTaxRulesRequest(), metadata=ADMIN)).rules
    assert [(r.country, r.region, r.rate_bp) for r in rules][:2] == [("DE", "", 1900), ("FR", "", 2000)]
    page = await stub.ListShippingMethods(
        pb.ListShippingMethodsRequest(page=common_pb2.PageRequest(page_size=2)), metadata=ADMIN
    )
    assert len(page.methods) == 2 and page.page.next_page_token
    await stub.DeleteTaxRule(pb.DeleteTaxRuleRequest(country="ZZ"), metadata=ADMIN)  # unknown: no-op


async def test_bad_methods_and_rules_are_refused_with_every_field(pricing: Any) -> None:
    bad = pb.ShippingMethod(
        id="Bad Id",
        code="standard",
        name="x",
        zone=pb.ShippingZone(countries=["usa"], regions=["DE-BY"]),
        min_delivery_days=5,
        max_delivery_days=2,
        rate_kind=pb.SHIPPING_RATE_KIND_WEIGHT,
        bands=[pb.RateBand(price=money(100)), pb.RateBand(price=money(200, "EUR"))],
    )
    setattr(bad.bands[0], "from", 5)  # `from` is a Python keyword
    info = await error_of(pricing.stub.PutShippingMethod(pb.PutShippingMethodRequest(method=bad), metadata=ADMIN))
    assert info.code is grpc.StatusCode.INVALID_ARGUMENT
    fields = fields_of(info)
    assert {
        "method.id",
        "method.zone.countries[0]",
        "method.zone.regions[0]",
        "method.max_delivery_days",
        "method.bands[0].from",
        "method.bands[1].from",
        "method.bands[1].price.currency",
    } <= fields
    rule = pb.TaxRule(country="D", region="bavaria", name="", rate_bp=10001)
    info = await error_of(pricing.stub.PutTaxRule(pb.PutTaxRuleRequest(rule=rule), metadata=ADMIN))
    assert fields_of(info) == {"rule.country", "rule.region", "rule.name", "rule.rate_bp"}
    info = await error_of(pricing.stub.PutTaxRule(pb.PutTaxRuleRequest(rule=rule), metadata=CUSTOMER))
    assert info.code is grpc.StatusCode.PERMISSION_DENIED
    methods = (await pricing.stub.ListShippingMethods(pb.ListShippingMethodsRequest(), metadata=ADMIN)).methods
    assert "Bad Id" not in {m.id for m in methods}


async def test_us_sales_tax_is_added_on_the_shipping_state(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    await seed(stub)
    sku = f"{unique}-US"
    await set_base(stub, sku, 2999, "USD")
    destination = pb.Destination(country="US", region="CA", postal_code="94105")
    response = await stub.Quote(quote(sku, 2, "USD", weight=1500, destination=destination), metadata=CUSTOMER)
    # Standard is free; express by weight: 2 x 1.5 kg = 3 kg is the 2 kg band (19.99).
    assert [(o.code, o.price.amount) for o in response.shipping_options] == [("standard", 0), ("express", 1999)]
    assert response.shipping.code == "standard"
    # 7.25 % of 59.98 = 4.34855 -> 4.35; CA does not tax shipping.
    assert response.lines[0].tax == money(435)
    assert (response.shipping_total, response.shipping_tax, response.tax_total) == (money(0), money(0), money(435))
    assert not response.tax_included
    assert response.total == money(5998 + 435)
    assert (response.tax.region, response.tax.rate_bp) == ("CA", 725)
    express = await stub.Quote(
        quote(sku, 2, "USD", destination=pb.Destination(country="US", region="NY"), shipping_method_code="express"),
        metadata=CUSTOMER,
    )
    # No weight: the first band (14.99). NY taxes shipping: 4 % of 59.98 = 2.3992 -> 2.40; of 14.99 = 0.5996 -> 0.60.
    assert (express.shipping_total, express.shipping_tax, express.tax_total) == (money(1499), money(60), money(300))
    assert express.total == money(5998 + 1499 + 300)
    in_ca = await stub.Quote(
        quote(sku, 2, "USD", weight=1500, destination=destination, shipping_method_code="express"), metadata=CUSTOMER
    )
    assert (in_ca.shipping_total, in_ca.tax_total, in_ca.total) == (money(1999), money(435), money(5998 + 1999 + 435))


async def test_vat_is_included_and_a_pickup_has_no_shipping(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    await seed(stub)
    sku = f"{unique}-DE"
    await set_base(stub, sku, 2380, "EUR")
    response = await stub.Quote(quote(sku, 1, "EUR", destination=pb.Destination(country="DE")), metadata=CUSTOMER)
    # 23.80 contains 3.80 VAT; 4.90 shipping contains 0.78; the total is the prices.
    assert response.lines[0].tax == money(380, "EUR")
    assert (response.shipping_total, response.shipping_tax) == (money(490, "EUR"), money(78, "EUR"))
    assert response.tax_total == money(458, "EUR") and response.tax_included
    assert response.total == money(2380 + 490, "EUR")
    free = await stub.Quote(quote(sku, 3, "EUR", destination=pb.Destination(country="FR")), metadata=CUSTOMER)
    assert free.shipping.free and free.shipping_total == money(0, "EUR")  # 71.40 reaches 60.00
    assert free.lines[0].tax == money(1190, "EUR")  # 71.40 / 1.2 = 59.50 net
    pickup = await stub.Quote(
        quote(sku, 1, "EUR", destination=pb.Destination(country="DE", pickup=True)), metadata=CUSTOMER
    )
    assert not pickup.shipping_options and not pickup.HasField("shipping")
    assert pickup.shipping_total == money(0, "EUR") and pickup.tax_total == money(380, "EUR")
    assert pickup.total == money(2380, "EUR")


async def test_a_b2b_buyer_with_a_tax_id_is_exempt(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    await seed(stub)
    sku = f"{unique}-B2B"
    await set_base(stub, sku, 10000, "USD")
    destination = pb.Destination(country="US", region="NY")
    exempt = await stub.Quote(
        quote(sku, 1, "USD", destination=destination, tax_id="US-123", account_id="acme"), metadata=CUSTOMER
    )
    assert exempt.tax_total == money(0) and exempt.tax.exempt
    assert exempt.total == money(10000)  # standard shipping is free
    consumer = await stub.Quote(quote(sku, 1, "USD", destination=destination, tax_id="US-123"), metadata=CUSTOMER)
    assert consumer.tax_total == money(400)  # a tax id without an account exempts nothing


async def test_an_unknown_method_or_no_destination(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    await seed(stub)
    sku = f"{unique}-X"
    await set_base(stub, sku, 1000, "USD")
    request = quote(sku, 1, "USD", destination=pb.Destination(country="US"), shipping_method_code="overnight")
    info = await error_of(stub.Quote(request, metadata=CUSTOMER))
    assert info.code is grpc.StatusCode.INVALID_ARGUMENT and "shipping_method_code" in fields_of(info)
    info = await error_of(stub.Quote(quote(sku, 1, "USD", shipping_method_code="standard"), metadata=CUSTOMER))
    assert "shipping_method_code" in fields_of(info)
    pickup = quote(sku, 1, "USD", destination=pb.Destination(country="US", pickup=True), shipping_method_code="x")
    info = await error_of(stub.Quote(pickup, metadata=CUSTOMER))
    assert "shipping_method_code" in fields_of(info)
    plain = await stub.Quote(quote(sku, 1, "USD"), metadata=metadata_for("service"))
    assert (plain.shipping_total, plain.tax_total, plain.total) == (money(0), money(0), money(1000))
    nowhere = await stub.Quote(quote(sku, 1, "USD", destination=pb.Destination(country="JP")), metadata=CUSTOMER)
    assert not nowhere.shipping_options and not nowhere.HasField("tax") and nowhere.total == money(1000)
