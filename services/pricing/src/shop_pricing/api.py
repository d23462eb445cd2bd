"""The gRPC servicer of shop.pricing.v1.PricingService.

Each method: authorise (admin RPCs need role admin or service), validate the whole request
(INVALID_ARGUMENT with every field violation, before any write), then one unit of work.
Price reads (GetPrice, GetPrices, Quote) use a handful of batched statements whatever the
number of SKUs; selection and promotions are pure domain functions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc

from shop.common.v1 import feed_pb2
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_pricing import charges, events, mapping, price_feed, sales_quote_orders, sales_quotes
from shop_pricing import charges_mapping as cm
from shop_pricing.domain.promotions import CouponCandidate, PricedLine, QuoteTotals, apply_promotions, normalise_code
from shop_pricing.domain.selection import CustomerScope, SelectedPrice, price_skus
from shop_pricing.domain.shipping import Destination
from shop_pricing.paging import cursor_value, split_page
from shop_pricing.settings import PricingSettings
from shop_pricing.store import dynamic as dynamic_store
from shop_pricing.store import prices as price_store
from shop_pricing.store import promotions as promotion_store
from shop_pricing.store import quote_reads
from shopkit import feeds, identifiers
from shopkit.auth import require_role
from shopkit.db import DriverConnection
from shopkit.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Violations,
)
from shopkit.pagination import page_size
from shopkit.runtime import Runtime

Context = grpc.aio.ServicerContext[Any, Any]


class PricingServicer(
    charges.ChargesAdmin,
    sales_quotes.SalesQuotes,
    sales_quote_orders.SalesQuoteOrders,
    pricing_pb2_grpc.PricingServiceServicer,
):
    def __init__(self, runtime: Runtime, settings: PricingSettings):
        self.runtime = runtime
        self.db = runtime.db
        self.settings = settings
        self.feeds = feeds.feed_service(
            runtime.db, settings, price_feed.tables, price_feed.apply_lines, noun="price", on_commit=self._published
        )

    def _published(self) -> None:
        """After a commit that staged events: let the relay publish now rather than at its next poll."""
        if self.runtime.relay is not None:
            self.runtime.relay.wake()

    # --------------------------------------------------------------------------------------------
    # ERP price-list feeds (shopkit.feeds; the lines: price_feed)

    async def StartPriceFeed(self, request: feed_pb2.StartFeedRequest, context: Context) -> feed_pb2.Feed:
        return await self.feeds.start(request, context)

    async def GetPriceFeed(self, request: feed_pb2.GetFeedRequest, context: Context) -> feed_pb2.Feed:
        return await self.feeds.get(request, context)

    async def ListPriceFeedLines(
        self, request: feed_pb2.ListFeedLinesRequest, context: Context
    ) -> feed_pb2.ListFeedLinesResponse:
        return await self.feeds.lines(request, context)

    async def _select(
        self, conn: DriverConnection, quantities: dict[str, int], customer: CustomerScope, now: datetime
    ) -> dict[str, SelectedPrice]:
        reference = self.settings.reference_currency
        inputs = await quote_reads.load_price_inputs(conn, sorted(quantities), customer, reference, now)
        return price_skus(quantities, customer, reference, inputs.base_amounts, inputs.rates, inputs.tiers, now)

    # --------------------------------------------------------------------------------------------
    # Price reads

    async def GetPrice(self, request: pricing_pb2.GetPriceRequest, context: Context) -> pricing_pb2.GetPriceResponse:
        violations = Violations()
        identifiers.check_sku(violations, request.sku, "sku")
        quantity = request.quantity or 1
        violations.check(
            1 <= quantity <= mapping.MAX_QUANTITY,
            "quantity",
            f"must be between 1 and {mapping.MAX_QUANTITY} (0 means 1)",
        )
        customer = mapping.customer_scope(request.context, self.settings.default_currency, violations)
        violations.raise_if_any()
        now = datetime.now(UTC)
        async with self.db.driver() as conn:
            selected = await self._select(conn, {request.sku: quantity}, customer, now)
        price = selected.get(request.sku)
        if price is None:
            raise NotFound("price", f"{request.sku} in {customer.currency}")
        return pricing_pb2.GetPriceResponse(price=mapping.price_to_pb(price))

    async def GetPrices(self, request: pricing_pb2.GetPricesRequest, context: Context) -> pricing_pb2.GetPricesResponse:
        violations = Violations()
        items = mapping.quantities(
            [(item.sku, item.quantity) for item in request.items],
            "items",
            violations,
            self.settings.max_lines,
            zero_means_one=True,
        )
        customer = mapping.customer_scope(request.context, self.settings.default_currency, violations)
        violations.raise_if_any()
        totals: dict[str, int] = {}
        for sku, quantity in items:
            totals[sku] = totals.get(sku, 0) + quantity
        now = datetime.now(UTC)
        async with self.db.driver() as conn:
            selected = await self._select(conn, totals, customer, now)
        response = pricing_pb2.GetPricesResponse()
        for index, (sku, _) in enumerate(items):
            price = selected.get(sku)
            if price is None:
                response.problems.append(
                    mapping.no_price_problem(
                        f"items[{index}].sku", sku, customer.currency, self.settings.reference_currency
                    )
                )
            else:
                response.prices.append(mapping.price_to_pb(price))
        return response

    async def Quote(self, request: pricing_pb2.QuoteRequest, context: Context) -> pricing_pb2.QuoteResponse:
        violations = Violations()
        # No lines is fine when there is a coupon to check (a cart without lines asks whether its code
        # is usable); the coupon then judges an empty basket.
        lines = mapping.quantities(
            [(line.sku, line.quantity) for line in request.lines],
            "lines",
            violations,
            self.settings.max_lines,
            zero_means_one=False,
            empty="" if request.coupon_code else "must contain at least one line unless coupon_code is given",
        )
        customer = mapping.customer_scope(request.context, self.settings.default_currency, violations)
        violations.check(len(request.coupon_code) <= 100, "coupon_code", "must be at most 100 characters")
        destination = cm.destination(request, violations)
        violations.check(len(request.sales_quote_id) <= mapping.MAX_TEXT, "sales_quote_id", "is too long")
        violations.raise_if_any()
        if request.sales_quote_id:
            return await self._quote_at_sales_quote(request, lines, customer, destination)
        code = normalise_code(request.coupon_code)
        # Tiers apply to the SKU's total quantity when a basket repeats a SKU over several lines.
        totals: dict[str, int] = {}
        for sku, quantity in lines:
            totals[sku] = totals.get(sku, 0) + quantity
        skus = sorted(totals)
        now = datetime.now(UTC)
        coupon = None
        async with self.db.driver() as conn:
            selected = await self._select(conn, totals, customer, now)
            automatic = await quote_reads.automatic_promotions(conn, skus, now)
        if code:  # a malformed code cannot exist: NOT_FOUND without asking the database
            if mapping.valid_coupon_code(code):
                async with self.db.connect() as sa_conn:
                    coupon = await promotion_store.coupon_candidate(sa_conn, code, customer.customer_id, skus)
            else:
                coupon = CouponCandidate(code, None, None)
        priced: list[PricedLine] = []
        problems = []
        for index, (sku, quantity) in enumerate(lines):
            price = selected.get(sku)
            if price is None:
                problems.append(
                    mapping.no_price_problem(
                        f"lines[{index}].sku", sku, customer.currency, self.settings.reference_currency
                    )
                )
            else:
                priced.append(PricedLine(index, price, quantity))
        quote = apply_promotions(customer.currency, priced, automatic, coupon, now)
        return await self._charged(request, destination, quote, mapping.quote_to_pb(quote, problems, now))

    async def _quote_at_sales_quote(
        self,
        request: pricing_pb2.QuoteRequest,
        lines: list[tuple[str, int]],
        customer: CustomerScope,
        destination: Destination | None,
    ) -> pricing_pb2.QuoteResponse:
        """Quote with a sales quote: its prices, no promotions or coupon; shipping and tax as usual."""
        now = datetime.now(UTC)
        quote, sales_quote = await self.priced_by_sales_quote(request.sales_quote_id, lines, customer, now)
        response = mapping.quote_to_pb(quote, [], now)
        sales_quote_orders.mark_sales_quote(response, sales_quote)
        return await self._charged(request, destination, quote, response)

    async def _charged(
        self,
        request: pricing_pb2.QuoteRequest,
        destination: Destination | None,
        quote: QuoteTotals,
        response: pricing_pb2.QuoteResponse,
    ) -> pricing_pb2.QuoteResponse:
        """The quote's shipping and tax for its destination (none: zero charges)."""
        if destination is None:
            charges.zero_charges(response, quote.subtotal.currency)
        else:
            async with self.db.connect() as sa_conn:
                await charges.add_charges(sa_conn, request, destination, quote, response)
        return response

    # --------------------------------------------------------------------------------------------
    # Base prices

    async def SetBasePrices(
        self, request: pricing_pb2.SetBasePricesRequest, context: Context
    ) -> pricing_pb2.SetBasePricesResponse:
        require_role(context)
        violations = Violations()
        items = mapping.base_prices(request, violations, self.settings.max_batch)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            changes = await price_store.set_base_prices(conn, items)
            audited = await price_store.record_price_changes(conn, changes, "base_price_set")
            await events.publish_price_changes(conn, audited)
        self._published()
        return pricing_pb2.SetBasePricesResponse(changed=len(changes))

    async def ListBasePrices(
        self, request: pricing_pb2.ListBasePricesRequest, context: Context
    ) -> pricing_pb2.ListBasePricesResponse:
        require_role(context)
        limit = page_size(request.page.page_size)
        after = cursor_value(request.page.page_token, "after", list)
        if after is not None and (len(after) != 2 or not all(isinstance(part, str) for part in after)):
            raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")])
        async with self.db.connect() as conn:
            prices = await price_store.list_base_prices(conn, (after[0], after[1]) if after else None, limit + 1)
        page, token = split_page(prices, limit, lambda p: {"after": [p.sku, p.currency]})
        response = pricing_pb2.ListBasePricesResponse(
            prices=[
                pricing_pb2.BasePriceEntry(sku=p.sku, price=mapping.money(p.amount, p.currency), audit_id=p.audit_id)
                for p in page
            ]
        )
        response.page.next_page_token = token
        return response

    # --------------------------------------------------------------------------------------------
    # Price lists

    async def CreatePriceList(
        self, request: pricing_pb2.CreatePriceListRequest, context: Context
    ) -> pricing_pb2.CreatePriceListResponse:
        require_role(context)
        violations = Violations()
        header = mapping.price_list_header(request.price_list, violations)
        tiers = mapping.entry_tiers(request.entries, violations, self.settings.max_batch, required=False)
        mapping.check_entry_currencies(tiers, request.entries, header.scope.currency, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await price_store.insert_price_list(conn, header)
            if record is None:
                existing = await price_store.get_price_list(conn, header.id)
                if existing is None or existing.header != header:
                    raise AlreadyExists(
                        f"price list {header.id!r} exists with other settings",
                        metadata={"resource": "price_list", "key": header.id},
                    )
                record = existing  # a retried create: the same outcome
            else:
                await price_store.replace_entries(conn, header.id, tiers)
        return pricing_pb2.CreatePriceListResponse(price_list=mapping.price_list_to_pb(record))

    async def UpdatePriceList(
        self, request: pricing_pb2.UpdatePriceListRequest, context: Context
    ) -> pricing_pb2.UpdatePriceListResponse:
        require_role(context)
        violations = Violations()
        header = mapping.price_list_header(request.price_list, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            if await price_store.get_price_list(conn, header.id, lock=True) is None:
                raise NotFound("price_list", header.id)
            if header.scope.currency:
                others = await price_store.entry_currencies(conn, header.id) - {header.scope.currency}
                if others:
                    raise FailedPrecondition(
                        f"the list has prices in {', '.join(sorted(others))}; remove them before scoping it to "
                        f"{header.scope.currency}",
                        reason="PRICE_LIST_CURRENCY_CONFLICT",
                    )
            record = await price_store.update_price_list(conn, header)
            assert record is not None  # locked above
        return pricing_pb2.UpdatePriceListResponse(price_list=mapping.price_list_to_pb(record))

    async def SetPriceListEntries(
        self, request: pricing_pb2.SetPriceListEntriesRequest, context: Context
    ) -> pricing_pb2.SetPriceListEntriesResponse:
        require_role(context)
        violations = Violations()
        mapping.check_id(request.price_list_id, "price_list_id", violations)
        tiers = mapping.entry_tiers(request.entries, violations, self.settings.max_batch)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await price_store.get_price_list(conn, request.price_list_id, lock=True)
            if record is None:
                raise NotFound("price_list", request.price_list_id)
            mapping.check_entry_currencies(tiers, request.entries, record.header.scope.currency, violations)
            violations.raise_if_any()
            await price_store.replace_entries(conn, request.price_list_id, tiers)
        return pricing_pb2.SetPriceListEntriesResponse(entries=len(request.entries))

    async def DeletePriceListEntries(
        self, request: pricing_pb2.DeletePriceListEntriesRequest, context: Context
    ) -> pricing_pb2.DeletePriceListEntriesResponse:
        require_role(context)
        violations = Violations()
        mapping.check_id(request.price_list_id, "price_list_id", violations)
        mapping.check_skus(request.skus, "skus", violations, maximum=self.settings.max_batch)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            if await price_store.get_price_list(conn, request.price_list_id) is None:
                raise NotFound("price_list", request.price_list_id)
            deleted = await price_store.delete_entries(conn, request.price_list_id, request.skus)
        return pricing_pb2.DeletePriceListEntriesResponse(deleted=deleted)

    async def ListPriceLists(
        self, request: pricing_pb2.ListPriceListsRequest, context: Context
    ) -> pricing_pb2.ListPriceListsResponse:
        require_role(context)
        limit = page_size(request.page.page_size)
        after = cursor_value(request.page.page_token, "id", str)
        async with self.db.connect() as conn:
            records = await price_store.list_price_lists(conn, after, limit + 1, request.active_only)
        page, token = split_page(records, limit, lambda r: {"id": r.header.id})
        response = pricing_pb2.ListPriceListsResponse(price_lists=[mapping.price_list_to_pb(r) for r in page])
        response.page.next_page_token = token
        return response

    async def GetPriceList(
        self, request: pricing_pb2.GetPriceListRequest, context: Context
    ) -> pricing_pb2.GetPriceListResponse:
        require_role(context)
        async with self.db.connect() as conn:
            record = await price_store.get_price_list(conn, request.id)
            if record is None:
                raise NotFound("price_list", request.id)
            tiers = await price_store.list_entries(conn, request.id)
        return pricing_pb2.GetPriceListResponse(
            price_list=mapping.price_list_to_pb(record), entries=mapping.entries_to_pb(tiers)
        )

    # --------------------------------------------------------------------------------------------
    # Promotions and coupons

    async def CreatePromotion(
        self, request: pricing_pb2.CreatePromotionRequest, context: Context
    ) -> pricing_pb2.CreatePromotionResponse:
        require_role(context)
        violations = Violations()
        promotion = mapping.promotion(request.promotion, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await promotion_store.insert_promotion(conn, promotion)
            if record is None:
                existing = await promotion_store.get_promotion(conn, promotion.id)
                if existing is None or existing.promotion != promotion:
                    raise AlreadyExists(
                        f"promotion {promotion.id!r} exists with other settings",
                        metadata={"resource": "promotion", "key": promotion.id},
                    )
                record = existing
        return pricing_pb2.CreatePromotionResponse(promotion=mapping.promotion_to_pb(record))

    async def ListPromotions(
        self, request: pricing_pb2.ListPromotionsRequest, context: Context
    ) -> pricing_pb2.ListPromotionsResponse:
        require_role(context)
        limit = page_size(request.page.page_size)
        after = cursor_value(request.page.page_token, "id", str)
        async with self.db.connect() as conn:
            records = await promotion_store.list_promotions(conn, after, limit + 1)
        page, token = split_page(records, limit, lambda r: {"id": r.promotion.id})
        response = pricing_pb2.ListPromotionsResponse(promotions=[mapping.promotion_to_pb(r) for r in page])
        response.page.next_page_token = token
        return response

    async def CreateCoupon(
        self, request: pricing_pb2.CreateCouponRequest, context: Context
    ) -> pricing_pb2.CreateCouponResponse:
        require_role(context)
        violations = Violations()
        coupon = mapping.coupon(request.coupon, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            promotion = await promotion_store.get_promotion(conn, coupon.promotion_id)
            if promotion is None:
                raise NotFound("promotion", coupon.promotion_id)
            if promotion.promotion.automatic:
                raise FailedPrecondition(
                    f"promotion {coupon.promotion_id!r} is automatic and needs no coupon",
                    reason="PROMOTION_IS_AUTOMATIC",
                )
            record = await promotion_store.insert_coupon(conn, coupon)
            if record is None:
                existing = await promotion_store.get_coupon(conn, coupon.code)
                if existing is None or replace(existing.coupon, times_used=0) != coupon:
                    raise AlreadyExists(
                        f"coupon {coupon.code!r} exists", metadata={"resource": "coupon", "key": coupon.code}
                    )
                record = existing
        return pricing_pb2.CreateCouponResponse(coupon=mapping.coupon_to_pb(record))

    async def GetCoupon(self, request: pricing_pb2.GetCouponRequest, context: Context) -> pricing_pb2.GetCouponResponse:
        require_role(context)
        code = normalise_code(request.code)
        async with self.db.connect() as conn:
            record = await promotion_store.get_coupon(conn, code)
        if record is None:
            raise NotFound("coupon", code)
        return pricing_pb2.GetCouponResponse(coupon=mapping.coupon_to_pb(record))

    async def RedeemCoupon(
        self, request: pricing_pb2.RedeemCouponRequest, context: Context
    ) -> pricing_pb2.RedeemCouponResponse:
        require_role(context)
        violations = Violations()
        code = mapping.coupon_code(request.code, "code", violations)
        mapping.check_key(request.customer_id, "customer_id", violations)
        mapping.check_key(request.idempotency_key, "idempotency_key", violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            redemption, fresh = await promotion_store.redeem_coupon(
                conn, code, request.customer_id, request.idempotency_key, datetime.now(UTC)
            )
            if fresh:
                await events.publish_coupon_redeemed(conn, redemption)
        if fresh:
            self._published()
        return pricing_pb2.RedeemCouponResponse(redemption=mapping.redemption_to_pb(redemption))

    async def ReleaseCouponRedemption(
        self, request: pricing_pb2.ReleaseCouponRedemptionRequest, context: Context
    ) -> pricing_pb2.ReleaseCouponRedemptionResponse:
        require_role(context)
        violations = Violations()
        mapping.check_key(request.idempotency_key, "idempotency_key", violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            redemption = await promotion_store.release_redemption(conn, request.idempotency_key, datetime.now(UTC))
        return pricing_pb2.ReleaseCouponRedemptionResponse(redemption=mapping.redemption_to_pb(redemption))

    # --------------------------------------------------------------------------------------------
    # Rates

    async def SetRate(self, request: pricing_pb2.SetRateRequest, context: Context) -> pricing_pb2.SetRateResponse:
        require_role(context)
        violations = Violations()
        rate = mapping.exchange_rate(request.rate, violations)
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await price_store.set_rate(conn, rate.base, rate.quote, rate.rate)
        return pricing_pb2.SetRateResponse(rate=mapping.rate_to_pb(record))

    async def ListRates(self, request: pricing_pb2.ListRatesRequest, context: Context) -> pricing_pb2.ListRatesResponse:
        require_role(context)
        async with self.db.connect() as conn:
            records = await price_store.list_rates(conn)
        return pricing_pb2.ListRatesResponse(rates=[mapping.rate_to_pb(r) for r in records])

    # --------------------------------------------------------------------------------------------
    # Dynamic pricing

    async def PutDynamicRule(
        self, request: pricing_pb2.PutDynamicRuleRequest, context: Context
    ) -> pricing_pb2.PutDynamicRuleResponse:
        require_role(context)
        violations = Violations()
        rule = mapping.dynamic_rule(request.rule, violations)
        violations.check(
            len(rule.skus) <= self.settings.max_batch, "rule.skus", f"must name at most {self.settings.max_batch} SKUs"
        )
        violations.raise_if_any()
        async with self.db.transaction() as conn:
            record = await dynamic_store.put_rule(conn, rule)
        return pricing_pb2.PutDynamicRuleResponse(
            rule=mapping.dynamic_rule_to_pb(record.rule, record.created_at, record.updated_at)
        )

    async def DeleteDynamicRule(
        self, request: pricing_pb2.DeleteDynamicRuleRequest, context: Context
    ) -> pricing_pb2.DeleteDynamicRuleResponse:
        require_role(context)
        async with self.db.transaction() as conn:
            await dynamic_store.delete_rule(conn, request.id)  # deleting an unknown rule is a no-op
        return pricing_pb2.DeleteDynamicRuleResponse()

    async def ListDynamicRules(
        self, request: pricing_pb2.ListDynamicRulesRequest, context: Context
    ) -> pricing_pb2.ListDynamicRulesResponse:
        require_role(context)
        limit = page_size(request.page.page_size)
        after = cursor_value(request.page.page_token, "id", str)
        async with self.db.connect() as conn:
            records = await dynamic_store.list_rules(conn, after, limit + 1)
        page, token = split_page(records, limit, lambda r: {"id": r.rule.id})
        response = pricing_pb2.ListDynamicRulesResponse(
            rules=[mapping.dynamic_rule_to_pb(r.rule, r.created_at, r.updated_at) for r in page]
        )
        response.page.next_page_token = token
        return response

    async def ListPriceChanges(
        self, request: pricing_pb2.ListPriceChangesRequest, context: Context
    ) -> pricing_pb2.ListPriceChangesResponse:
        require_role(context)
        limit = page_size(request.page.page_size)
        before = cursor_value(request.page.page_token, "before", int)
        async with self.db.connect() as conn:
            changes = await price_store.list_price_changes(conn, request.sku, before, limit + 1)
        page, token = split_page(changes, limit, lambda c: {"before": c.audit_id})
        response = pricing_pb2.ListPriceChangesResponse(changes=[mapping.price_change_to_pb(c) for c in page])
        response.page.next_page_token = token
        return response
