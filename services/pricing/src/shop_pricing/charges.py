"""Shipping and tax: the admin RPCs of shipping methods and tax rules, and what a destination adds to a
quote (options, the chosen shipping, tax per line and on shipping, totals).

Pricing owns these rules as it owns every other money rule (see docs/architecture.md): a quote
with a destination is the one answer of what the order costs, for the cart, the checkout and the
payment alike.
"""

from __future__ import annotations

from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.pricing.v1 import pricing_pb2
from shop_pricing import charges_mapping as cm
from shop_pricing.domain.promotions import QuoteTotals
from shop_pricing.domain.shipping import Destination, choose, shipping_options
from shop_pricing.domain.tax import rule_for, tax_of_quote
from shop_pricing.paging import cursor_value, split_page
from shop_pricing.store import shipping as store
from shopkit.auth import require_role
from shopkit.db import Database
from shopkit.errors import FieldViolation, InvalidArgument, Violations
from shopkit.money import Money
from shopkit.pagination import page_size

Context = grpc.aio.ServicerContext[Any, Any]


async def add_charges(
    conn: AsyncConnection,
    request: pricing_pb2.QuoteRequest,
    destination: Destination,
    quote: QuoteTotals,
    response: pricing_pb2.QuoteResponse,
) -> None:
    """Fill the response's shipping and tax for `destination`. INVALID_ARGUMENT on
    shipping_method_code when the destination has no option of that code."""
    currency = quote.currency
    merchandise = quote.total.amount
    weights = {i: line.weight_grams for i, line in enumerate(request.lines)}
    grams = sum(weights[q.line.index] * q.line.quantity for q in quote.lines)
    methods = await store.methods_for(conn, destination.country, currency)
    options = shipping_options(methods, destination, currency, merchandise, grams)
    chosen = choose(options, request.shipping_method_code)
    if request.shipping_method_code and chosen is None:
        offered = ", ".join(o.code for o in options) or "none"
        raise InvalidArgument(
            [
                FieldViolation(
                    "shipping_method_code",
                    f"{request.shipping_method_code!r} does not ship to {destination.country}"
                    f"{'-' + destination.region if destination.region else ''} in {currency} (options: {offered})",
                )
            ]
        )
    shipping = chosen.price if chosen is not None else Money.zero(currency)
    rules = [record.rule for record in await store.list_tax_rules(conn, destination.country)]
    rule = rule_for(rules, destination.country, destination.region)
    order_discount = sum(d.amount.amount for d in quote.order_discounts)
    exempt_buyer = bool(request.tax_id.strip() and request.context.account_id)
    tax = tax_of_quote(
        rule, [q.total.amount for q in quote.lines], order_discount, shipping.amount, exempt_buyer=exempt_buyer
    )
    response.shipping_options.extend(cm.option_to_pb(o) for o in options)
    if chosen is not None:
        response.shipping.CopyFrom(cm.option_to_pb(chosen))
    for line, line_tax in zip(response.lines, tax.line_taxes, strict=True):
        line.tax.CopyFrom(Money(line_tax, currency).to_proto())
    response.shipping_total.CopyFrom(shipping.to_proto())
    response.shipping_tax.CopyFrom(Money(tax.shipping_tax, currency).to_proto())
    response.tax_total.CopyFrom(Money(tax.total, currency).to_proto())
    response.tax_included = tax.included
    applied = cm.applied_tax_to_pb(tax)
    if applied is not None:
        response.tax.CopyFrom(applied)
    response.total.CopyFrom(Money(merchandise + shipping.amount + tax.added, currency).to_proto())


def zero_charges(response: pricing_pb2.QuoteResponse, currency: str) -> None:
    """A quote without a destination: no shipping, no tax (the totals keep their meaning)."""
    zero = Money.zero(currency).to_proto()
    response.shipping_total.CopyFrom(zero)
    response.shipping_tax.CopyFrom(zero)
    response.tax_total.CopyFrom(zero)
    for line in response.lines:
        line.tax.CopyFrom(zero)


class ChargesAdmin:
    """The admin RPCs of shipping methods and tax rules (mixed into the PricingService servicer)."""

    db: Database

    async def PutShippingMethod(
        self, request: pricing_pb2.PutShippingMethodRequest, context: Context
    ) -> pricing_pb2.PutShippingMethodResponse:
        require_role(context)
        violations = Violations()
        method = cm.shipping_method(request.method, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await store.put_method(conn, method)
        return pricing_pb2.PutShippingMethodResponse(method=cm.shipping_method_to_pb(record.method, record.updated_at))

    async def DeleteShippingMethod(
        self, request: pricing_pb2.DeleteShippingMethodRequest, context: Context
    ) -> pricing_pb2.DeleteShippingMethodResponse:
        require_role(context)
        async with self.db.transaction() as conn:
            await store.delete_method(conn, request.id)
        return pricing_pb2.DeleteShippingMethodResponse()

    async def ListShippingMethods(
        self, request: pricing_pb2.ListShippingMethodsRequest, context: Context
    ) -> pricing_pb2.ListShippingMethodsResponse:
        require_role(context)
        limit = page_size(request.page.page_size)
        after = cursor_value(request.page.page_token, "id", str)
        async with self.db.connect() as conn:
            records = await store.list_methods(conn, after, limit + 1)
        shown, token = split_page(records, limit, lambda r: {"id": r.method.id})
        response = pricing_pb2.ListShippingMethodsResponse(
            methods=[cm.shipping_method_to_pb(r.method, r.updated_at) for r in shown]
        )
        response.page.next_page_token = token
        return response

    async def PutTaxRule(
        self, request: pricing_pb2.PutTaxRuleRequest, context: Context
    ) -> pricing_pb2.PutTaxRuleResponse:
        require_role(context)
        violations = Violations()
        rule = cm.tax_rule(request.rule, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await store.put_tax_rule(conn, rule)
        return pricing_pb2.PutTaxRuleResponse(rule=cm.tax_rule_to_pb(record.rule, record.updated_at))

    async def DeleteTaxRule(
        self, request: pricing_pb2.DeleteTaxRuleRequest, context: Context
    ) -> pricing_pb2.DeleteTaxRuleResponse:
        require_role(context)
        async with self.db.transaction() as conn:
            await store.delete_tax_rule(conn, request.country, request.region)
        return pricing_pb2.DeleteTaxRuleResponse()

    async def ListTaxRules(
        self, request: pricing_pb2.ListTaxRulesRequest, context: Context
    ) -> pricing_pb2.ListTaxRulesResponse:
        require_role(context)
        async with self.db.connect() as conn:
            records = await store.list_tax_rules(conn)
        return pricing_pb2.ListTaxRulesResponse(rules=[cm.tax_rule_to_pb(r.rule, r.updated_at) for r in records])
