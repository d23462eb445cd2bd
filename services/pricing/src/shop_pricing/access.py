"""Who may call which method of the pricing service (see shopkit.access): the gateway for its clients,
the cart and checkout for quotes, checkout for coupon redemptions, the operators' tooling for
administration and reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "GetPrice": allow(GATEWAY, TOOLING),
    "GetPrices": allow(GATEWAY, TOOLING),
    "Quote": allow("cart", "checkout", GATEWAY, TOOLING),
    "SetBasePrices": allow(GATEWAY, TOOLING),
    "CreatePriceList": allow(GATEWAY, TOOLING),
    "UpdatePriceList": allow(GATEWAY, TOOLING),
    "SetPriceListEntries": allow(GATEWAY, TOOLING),
    "DeletePriceListEntries": allow(GATEWAY, TOOLING),
    "ListPriceLists": allow(GATEWAY, TOOLING),
    "GetPriceList": allow(GATEWAY, TOOLING),
    "CreatePromotion": allow(GATEWAY, TOOLING),
    "ListPromotions": allow(GATEWAY, TOOLING),
    "CreateCoupon": allow(GATEWAY, TOOLING),
    "GetCoupon": allow(GATEWAY, TOOLING),
    "SetRate": allow(GATEWAY, TOOLING),
    "ListRates": allow(GATEWAY, TOOLING),
    "PutDynamicRule": allow(GATEWAY, TOOLING),
    "DeleteDynamicRule": allow(GATEWAY, TOOLING),
    "ListDynamicRules": allow(GATEWAY, TOOLING),
    "ListPriceChanges": allow(GATEWAY, TOOLING),
    "PutShippingMethod": allow(GATEWAY, TOOLING),
    "DeleteShippingMethod": allow(GATEWAY, TOOLING),
    "ListShippingMethods": allow(GATEWAY, TOOLING),
    "PutTaxRule": allow(GATEWAY, TOOLING),
    "DeleteTaxRule": allow(GATEWAY, TOOLING),
    "ListTaxRules": allow(GATEWAY, TOOLING),
    # Steps of a checkout's saga: its own, never a client's.
    "RedeemCoupon": allow("checkout"),
    "ReleaseCouponRedemption": allow("checkout"),
    # Sales quotes: B2B buyers and sales users through the gateway; checkout orders accepted ones.
    "RequestSalesQuote": allow(GATEWAY, TOOLING),
    "OfferSalesQuote": allow(GATEWAY, TOOLING),
    "RequestSalesQuoteRevision": allow(GATEWAY, TOOLING),
    "AcceptSalesQuote": allow(GATEWAY, TOOLING),
    "DeclineSalesQuote": allow(GATEWAY, TOOLING),
    "GetSalesQuote": allow(GATEWAY, TOOLING),
    "ListSalesQuotes": allow(GATEWAY, TOOLING),
    "RedeemSalesQuote": allow("checkout"),
    "ReleaseSalesQuote": allow("checkout"),
    # The backfill of catalog's search projection reads every base price.
    "ListBasePrices": allow("catalog"),
    # ERP price-list feeds come in through the gateway's back office.
    "StartPriceFeed": allow(GATEWAY, TOOLING),
    "GetPriceFeed": allow(GATEWAY, TOOLING),
    "ListPriceFeedLines": allow(GATEWAY, TOOLING),
}
