"""Pricing for staff (role admin): price lists and tiers, promotions and coupons, exchange rates,
dynamic-pricing rules and the audit log of base-price changes. Writes are safe to repeat: each names its
resource by the client-chosen id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shop_gateway.app.backoffice import pricing
from shop_gateway.httpapi.backoffice import pricing_models as m
from shop_gateway.httpapi.backoffice.common import PageSize, PageToken, router
from shop_gateway.httpapi.deps import ShopDep, SignedIn

prices = router("/v1/admin", "back office: pricing")


def _page(size: int, token: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=size, page_token=token)


# --- price lists --------------------------------------------------------------------------------


@prices.post("/price-lists", status_code=201, summary="Create a price list, with entries if given (admin)")
async def create_price_list(body: m.NewPriceList, shop: ShopDep, who: SignedIn) -> m.PriceList:
    """The same id and fields again answer the list; the same id with other fields is 409."""
    request = pb.CreatePriceListRequest(
        price_list=body.to_proto(pb.PriceList), entries=[e.to_proto(pb.PriceListEntry) for e in body.entries]
    )
    response = await pricing.call(shop, who, "CreatePriceList", request)
    return m.PriceList.of(response.price_list)


@prices.put("/price-lists/{price_list_id}", summary="Replace a price list's header fields (admin)")
async def update_price_list(price_list_id: str, body: m.PriceList, shop: ShopDep, who: SignedIn) -> m.PriceList:
    header = body.to_proto(pb.PriceList)
    header.id = price_list_id
    response = await pricing.call(shop, who, "UpdatePriceList", pb.UpdatePriceListRequest(price_list=header))
    return m.PriceList.of(response.price_list)


@prices.get("/price-lists", summary="Price lists (admin)")
async def list_price_lists(
    shop: ShopDep, who: SignedIn, active_only: bool = False, page_size: PageSize = 0, page_token: PageToken = ""
) -> m.PriceListPage:
    request = pb.ListPriceListsRequest(page=_page(page_size, page_token), active_only=active_only)
    response = await pricing.call(shop, who, "ListPriceLists", request)
    return m.PriceListPage(
        price_lists=m.of_each(response.price_lists, m.PriceList), next_page_token=response.page.next_page_token
    )


@prices.get("/price-lists/{price_list_id}", summary="A price list with its entries and tiers (admin)")
async def get_price_list(price_list_id: str, shop: ShopDep, who: SignedIn) -> m.PriceListDetail:
    response = await pricing.call(shop, who, "GetPriceList", pb.GetPriceListRequest(id=price_list_id))
    return m.PriceListDetail(
        price_list=m.PriceList.of(response.price_list),
        entries=m.of_each(response.entries, m.PriceListEntry),
    )


@prices.put("/price-lists/{price_list_id}/entries", summary="Set the tiers of SKUs in a price list (admin)")
async def set_price_list_entries(
    price_list_id: str, body: m.EntriesBody, shop: ShopDep, who: SignedIn
) -> m.EntriesWritten:
    """Each SKU's tiers are replaced by the ones given; other SKUs keep theirs."""
    request = pb.SetPriceListEntriesRequest(
        price_list_id=price_list_id, entries=[e.to_proto(pb.PriceListEntry) for e in body.entries]
    )
    response = await pricing.call(shop, who, "SetPriceListEntries", request)
    return m.EntriesWritten(entries=response.entries)


@prices.delete("/price-lists/{price_list_id}/entries", summary="Remove SKUs from a price list (admin)")
async def delete_price_list_entries(
    price_list_id: str,
    shop: ShopDep,
    who: SignedIn,
    sku: Annotated[list[str], Query(description="1 to 200 SKUs; repeat the parameter", max_length=200)],
) -> m.EntriesDeleted:
    request = pb.DeletePriceListEntriesRequest(price_list_id=price_list_id, skus=sku)
    response = await pricing.call(shop, who, "DeletePriceListEntries", request)
    return m.EntriesDeleted(deleted=response.deleted)


# --- promotions and coupons ---------------------------------------------------------------------


@prices.post("/promotions", status_code=201, summary="Create a promotion (admin)")
async def create_promotion(body: m.Promotion, shop: ShopDep, who: SignedIn) -> m.Promotion:
    request = pb.CreatePromotionRequest(promotion=body.to_proto(pb.Promotion))
    return m.Promotion.of((await pricing.call(shop, who, "CreatePromotion", request)).promotion)


@prices.get("/promotions", summary="Promotions (admin)")
async def list_promotions(
    shop: ShopDep, who: SignedIn, page_size: PageSize = 0, page_token: PageToken = ""
) -> m.PromotionPage:
    response = await pricing.call(
        shop, who, "ListPromotions", pb.ListPromotionsRequest(page=_page(page_size, page_token))
    )
    return m.PromotionPage(
        promotions=m.of_each(response.promotions, m.Promotion), next_page_token=response.page.next_page_token
    )


@prices.post("/coupons", status_code=201, summary="Create a coupon code of a promotion (admin)")
async def create_coupon(body: m.Coupon, shop: ShopDep, who: SignedIn) -> m.Coupon:
    request = pb.CreateCouponRequest(coupon=body.to_proto(pb.Coupon))
    return m.Coupon.of((await pricing.call(shop, who, "CreateCoupon", request)).coupon)


@prices.get("/coupons/{code}", summary="A coupon with its use count (admin)")
async def get_coupon(code: str, shop: ShopDep, who: SignedIn) -> m.Coupon:
    return m.Coupon.of((await pricing.call(shop, who, "GetCoupon", pb.GetCouponRequest(code=code))).coupon)


# --- exchange rates -----------------------------------------------------------------------------


@prices.put("/exchange-rates/{base_currency}/{quote_currency}", summary="Set an exchange rate (admin)")
async def set_exchange_rate(
    base_currency: str, quote_currency: str, body: m.RateBody, shop: ShopDep, who: SignedIn
) -> m.ExchangeRate:
    """Prices in quote_currency without a base price of their own are converted from base_currency."""
    rate = pb.ExchangeRate(base_currency=base_currency, quote_currency=quote_currency, rate=body.rate)
    return m.ExchangeRate.of((await pricing.call(shop, who, "SetRate", pb.SetRateRequest(rate=rate))).rate)


@prices.get("/exchange-rates", summary="Every exchange rate (admin)")
async def list_exchange_rates(shop: ShopDep, who: SignedIn) -> m.ExchangeRates:
    response = await pricing.call(shop, who, "ListRates", pb.ListRatesRequest())
    return m.ExchangeRates(rates=m.of_each(response.rates, m.ExchangeRate))


# --- dynamic pricing ----------------------------------------------------------------------------


@prices.put("/dynamic-rules/{rule_id}", summary="Create or replace a dynamic-pricing rule (admin)")
async def put_dynamic_rule(rule_id: str, body: m.DynamicRule, shop: ShopDep, who: SignedIn) -> m.DynamicRule:
    rule = body.to_proto(pb.DynamicRule)
    rule.id = rule_id
    return m.DynamicRule.of((await pricing.call(shop, who, "PutDynamicRule", pb.PutDynamicRuleRequest(rule=rule))).rule)


@prices.delete("/dynamic-rules/{rule_id}", status_code=204, summary="Delete a dynamic-pricing rule (admin)")
async def delete_dynamic_rule(rule_id: str, shop: ShopDep, who: SignedIn) -> Response:
    await pricing.call(shop, who, "DeleteDynamicRule", pb.DeleteDynamicRuleRequest(id=rule_id))
    return Response(status_code=204)


@prices.get("/dynamic-rules", summary="Dynamic-pricing rules (admin)")
async def list_dynamic_rules(
    shop: ShopDep, who: SignedIn, page_size: PageSize = 0, page_token: PageToken = ""
) -> m.DynamicRulePage:
    request = pb.ListDynamicRulesRequest(page=_page(page_size, page_token))
    response = await pricing.call(shop, who, "ListDynamicRules", request)
    return m.DynamicRulePage(
        rules=m.of_each(response.rules, m.DynamicRule), next_page_token=response.page.next_page_token
    )


@prices.get("/price-changes", summary="The audit log of base-price changes, newest first (admin)")
async def list_price_changes(
    shop: ShopDep,
    who: SignedIn,
    sku: Annotated[str, Query(max_length=128, description="only this SKU's changes")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> m.PriceChangePage:
    """Who changed a price why: an admin's or an import's set (base_price_set) or a rule (dynamic, with
    the rule, the stock level and the event that triggered it)."""
    request = pb.ListPriceChangesRequest(sku=sku, page=_page(page_size, page_token))
    response = await pricing.call(shop, who, "ListPriceChanges", request)
    return m.PriceChangePage(
        changes=m.of_each(response.changes, m.PriceChange), next_page_token=response.page.next_page_token
    )
