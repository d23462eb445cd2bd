"""Returns over gRPC (shop.storefront.v1.ReturnsService): thin adapters over `app.returns`, whose results
convert by field name like the storefront's."""

from __future__ import annotations

from shop.storefront.v1 import returns_pb2 as pb
from shop.storefront.v1 import returns_pb2_grpc
from shop_gateway.app import guest_orders, returns
from shop_gateway.app.guest_tokens import ORDER_TOKEN_HEADER
from shop_gateway.grpcapi import Context, StorefrontServicer, to_proto
from shop_gateway.principal import Principal


def _return(found: returns.Return) -> pb.Return:
    return to_proto(pb.Return, **vars(found))


class ReturnsServicer(StorefrontServicer, returns_pb2_grpc.ReturnsServiceServicer):
    """The storefront's admission (authentication, rate limits, client facts); only ReturnsService's
    methods are registered for it."""

    async def _caller(self, context: Context) -> Principal:
        who, _ = await self._admit(context)
        return who

    @staticmethod
    def _order_token(who: Principal, context: Context) -> str:
        """A guest's order token (metadata x-order-token) when the caller has no bearer token."""
        if who.authenticated:
            return ""
        metadata = dict(context.invocation_metadata() or ())
        token = metadata.get(ORDER_TOKEN_HEADER.lower(), "")
        return token if isinstance(token, str) else ""

    async def RequestReturn(self, request: pb.RequestReturnRequest, context: Context) -> pb.Return:
        who = await self._caller(context)
        lines = [returns.LineInput(x.line_id, x.quantity, x.exchange_sku) for x in request.lines]
        wanted = returns.ReturnInput(
            lines, request.reason, request.method, request.store_id, request.note, request.idempotency_key
        )
        if token := self._order_token(who, context):
            return _return(await guest_orders.request_return(self.shop, token, request.order_id, wanted))
        return _return(await returns.request_return(self.shop, who, request.order_id, wanted))

    async def ListReturns(self, request: pb.ListReturnsRequest, context: Context) -> pb.ListReturnsResponse:
        who = await self._caller(context)
        if token := self._order_token(who, context):
            found = await guest_orders.list_returns(self.shop, token, request.order_id)
        else:
            found = await returns.list_returns(self.shop, who, request.order_id)
        return pb.ListReturnsResponse(returns=[_return(r) for r in found.returns])

    async def LookupGuestOrder(self, request: pb.LookupGuestOrderRequest, context: Context) -> pb.GuestOrderAccess:
        _, client = await self._admit(context)
        found = await guest_orders.lookup(self.shop, client, order_number=request.order_number, email=request.email)
        return to_proto(pb.GuestOrderAccess, **vars(found))

    async def GetReturn(self, request: pb.GetReturnRequest, context: Context) -> pb.Return:
        who = await self._caller(context)
        return _return(await returns.get_return(self.shop, who, request.return_id))

    async def ReceiveReturn(self, request: pb.ReceiveReturnRequest, context: Context) -> pb.Return:
        who = await self._caller(context)
        return _return(await returns.receive_return(self.shop, who, request.return_id, location_id=request.location_id))

    async def InspectReturn(self, request: pb.InspectReturnRequest, context: Context) -> pb.Return:
        who = await self._caller(context)
        lines = [
            returns.InspectionInput(x.line_id, x.accepted_sellable, x.accepted_unsellable, x.rejected)
            for x in request.lines
        ]
        found = await returns.inspect_return(
            self.shop, who, request.return_id, lines=lines, note=request.note, idempotency_key=request.idempotency_key
        )
        return _return(found)
