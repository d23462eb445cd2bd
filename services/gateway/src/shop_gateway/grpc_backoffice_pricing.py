"""The pricing RPCs of the back office's gRPC face: each takes and answers the pricing service's own
messages, through `app.backoffice.pricing.call` (role admin, bounded pages, field paths in the client's terms)."""

from __future__ import annotations

from typing import Any

from shop.pricing.v1 import pricing_pb2 as pb
from shop_gateway.app.backoffice import pricing
from shop_gateway.app.shop import Shop
from shop_gateway.grpcapi import Context
from shop_gateway.principal import Principal


class PricingRpcs:
    shop: Shop

    async def _admit(self, context: Context) -> Principal:
        raise NotImplementedError

    async def _pricing(self, operation: str, request: Any, context: Context) -> Any:
        return await pricing.call(self.shop, await self._admit(context), operation, request)

    async def CreatePriceList(self, request: pb.CreatePriceListRequest, context: Context) -> pb.CreatePriceListResponse:
        response: pb.CreatePriceListResponse = await self._pricing("CreatePriceList", request, context)
        return response

    async def UpdatePriceList(self, request: pb.UpdatePriceListRequest, context: Context) -> pb.UpdatePriceListResponse:
        response: pb.UpdatePriceListResponse = await self._pricing("UpdatePriceList", request, context)
        return response

    async def SetPriceListEntries(
        self, request: pb.SetPriceListEntriesRequest, context: Context
    ) -> pb.SetPriceListEntriesResponse:
        response: pb.SetPriceListEntriesResponse = await self._pricing("SetPriceListEntries", request, context)
        return response

    async def DeletePriceListEntries(
        self, request: pb.DeletePriceListEntriesRequest, context: Context
    ) -> pb.DeletePriceListEntriesResponse:
        response: pb.DeletePriceListEntriesResponse = await self._pricing("DeletePriceListEntries", request, context)
        return response

    async def ListPriceLists(self, request: pb.ListPriceListsRequest, context: Context) -> pb.ListPriceListsResponse:
        response: pb.ListPriceListsResponse = await self._pricing("ListPriceLists", request, context)
        return response

    async def GetPriceList(self, request: pb.GetPriceListRequest, context: Context) -> pb.GetPriceListResponse:
        response: pb.GetPriceListResponse = await self._pricing("GetPriceList", request, context)
        return response

    async def CreatePromotion(self, request: pb.CreatePromotionRequest, context: Context) -> pb.CreatePromotionResponse:
        response: pb.CreatePromotionResponse = await self._pricing("CreatePromotion", request, context)
        return response

    async def ListPromotions(self, request: pb.ListPromotionsRequest, context: Context) -> pb.ListPromotionsResponse:
        response: pb.ListPromotionsResponse = await self._pricing("ListPromotions", request, context)
        return response

    async def CreateCoupon(self, request: pb.CreateCouponRequest, context: Context) -> pb.CreateCouponResponse:
        response: pb.CreateCouponResponse = await self._pricing("CreateCoupon", request, context)
        return response

    async def GetCoupon(self, request: pb.GetCouponRequest, context: Context) -> pb.GetCouponResponse:
        response: pb.GetCouponResponse = await self._pricing("GetCoupon", request, context)
        return response

    async def SetRate(self, request: pb.SetRateRequest, context: Context) -> pb.SetRateResponse:
        response: pb.SetRateResponse = await self._pricing("SetRate", request, context)
        return response

    async def ListRates(self, request: pb.ListRatesRequest, context: Context) -> pb.ListRatesResponse:
        response: pb.ListRatesResponse = await self._pricing("ListRates", request, context)
        return response

    async def PutDynamicRule(self, request: pb.PutDynamicRuleRequest, context: Context) -> pb.PutDynamicRuleResponse:
        response: pb.PutDynamicRuleResponse = await self._pricing("PutDynamicRule", request, context)
        return response

    async def DeleteDynamicRule(
        self, request: pb.DeleteDynamicRuleRequest, context: Context
    ) -> pb.DeleteDynamicRuleResponse:
        response: pb.DeleteDynamicRuleResponse = await self._pricing("DeleteDynamicRule", request, context)
        return response

    async def ListDynamicRules(
        self, request: pb.ListDynamicRulesRequest, context: Context
    ) -> pb.ListDynamicRulesResponse:
        response: pb.ListDynamicRulesResponse = await self._pricing("ListDynamicRules", request, context)
        return response

    async def ListPriceChanges(
        self, request: pb.ListPriceChangesRequest, context: Context
    ) -> pb.ListPriceChangesResponse:
        response: pb.ListPriceChangesResponse = await self._pricing("ListPriceChanges", request, context)
        return response
