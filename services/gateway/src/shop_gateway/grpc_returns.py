"""Returns over gRPC (shop.storefront.v1.ReturnsService): thin adapters over `app.returns`, whose results
convert by field name like the storefront's."""

from __future__ import annotations

from shop.storefront.v1 import returns_pb2 as pb
from shop.storefront.v1 import returns_pb2_grpc
from shop_gateway.app import returns
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

    async def RequestReturn(self, request: pb.RequestReturnRequest, context: Context) -> pb.Return:
        who = await self._caller(context)
        lines = [returns.LineInput(x.line_id, x.quantity, x.exchange_sku) for x in request.lines]
        wanted = returns.ReturnInput(
            lines, request.reason, request.method, request.store_id, request.note, request.idempotency_key
        )
        return _return(await returns.request_return(self.shop, who, request.order_id, wanted))

    async def ListReturns(self, request: pb.ListReturnsRequest, context: Context) -> pb.ListReturnsResponse:
        who = await self._caller(context)
        found = await returns.list_returns(self.shop, who, request.order_id)
        return pb.ListReturnsResponse(returns=[_return(r) for r in found.returns])

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
