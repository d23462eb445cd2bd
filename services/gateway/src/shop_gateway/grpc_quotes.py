"""B2B sales quotes over gRPC (shop.storefront.v1.QuotesService): the use cases of the /v1/quotes and
/v1/admin/quotes routes (app.quotes), in the pricing service's own messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from shop.pricing.v1 import pricing_pb2 as pb
from shop.storefront.v1 import quotes_pb2, quotes_pb2_grpc
from shop_gateway.app import quotes
from shop_gateway.gateway import Gateway
from shop_gateway.grpcapi import Context, StorefrontServicer


class QuotesServicer(quotes_pb2_grpc.QuotesServiceServicer):
    def __init__(self, gateway: Gateway):
        self.shop = gateway.shop
        self.edge = StorefrontServicer(gateway)  # authentication, scopes, rate limits and buying context as there

    async def _call(self, operation: str, request: Message, context: Context) -> Any:
        who, _ = await self.edge._admit(context)
        return await quotes.call(self.shop, who, operation, request)

    async def RequestQuote(
        self, request: quotes_pb2.RequestQuoteRequest, context: Context
    ) -> pb.RequestSalesQuoteResponse:
        who, _ = await self.edge._admit(context)
        quote = await quotes.request_quote(
            self.shop, who, cart_id=request.cart_id, note=request.note, key=request.idempotency_key
        )
        return pb.RequestSalesQuoteResponse(quote=quote)

    async def GetQuote(self, request: pb.GetSalesQuoteRequest, context: Context) -> pb.GetSalesQuoteResponse:
        response: pb.GetSalesQuoteResponse = await self._call("GetSalesQuote", request, context)
        return response

    async def ListQuotes(self, request: pb.ListSalesQuotesRequest, context: Context) -> pb.ListSalesQuotesResponse:
        response: pb.ListSalesQuotesResponse = await self._call("ListSalesQuotes", request, context)
        return response

    async def RequestQuoteRevision(
        self, request: pb.RequestSalesQuoteRevisionRequest, context: Context
    ) -> pb.RequestSalesQuoteRevisionResponse:
        response: pb.RequestSalesQuoteRevisionResponse = await self._call("RequestSalesQuoteRevision", request, context)
        return response

    async def AcceptQuote(self, request: pb.AcceptSalesQuoteRequest, context: Context) -> pb.AcceptSalesQuoteResponse:
        response: pb.AcceptSalesQuoteResponse = await self._call("AcceptSalesQuote", request, context)
        return response

    async def DeclineQuote(
        self, request: pb.DeclineSalesQuoteRequest, context: Context
    ) -> pb.DeclineSalesQuoteResponse:
        response: pb.DeclineSalesQuoteResponse = await self._call("DeclineSalesQuote", request, context)
        return response

    async def OfferQuote(self, request: pb.OfferSalesQuoteRequest, context: Context) -> pb.OfferSalesQuoteResponse:
        response: pb.OfferSalesQuoteResponse = await self._call("OfferSalesQuote", request, context)
        return response
