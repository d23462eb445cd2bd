"""The order service as the notifications service reads it: GetOrder, as role `service` with this
process's certificate (order's allow-list names `notifications` for GetOrder)."""

from __future__ import annotations

import grpc

from shop.order.v1 import order_pb2, order_pb2_grpc
from shopkit import tls
from shopkit.auth import metadata_for
from shopkit.clients import make_channel
from shopkit.errors import DomainError, parse_rpc_error
from shopkit.settings import ServiceSettings

SERVICE = metadata_for("service")


class Orders:
    def __init__(self, settings: ServiceSettings, order_addr: str):
        self.timeout = settings.default_call_timeout_seconds
        self.channel = make_channel(
            order_addr,
            [order_pb2.DESCRIPTOR.services_by_name["OrderService"]],
            default_timeout=self.timeout,
            tls=tls.from_settings(settings),
        )
        self.stub = order_pb2_grpc.OrderServiceStub(self.channel)

    async def get(self, order_id: str) -> order_pb2.Order | None:
        """The order as order holds it now; None when order knows no such order. An unreachable order
        service raises, and the consumer keeps the event until it answers (`is_transient`)."""
        request = order_pb2.GetOrderRequest(order_id=order_id, view=order_pb2.ORDER_VIEW_BASIC)
        try:
            response = await self.stub.GetOrder(request, metadata=SERVICE, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            info = parse_rpc_error(exc)
            if info.code is grpc.StatusCode.NOT_FOUND:
                return None
            raise DomainError(f"order.GetOrder: {info.code.name} {info.reason} {info.message}") from exc
        return response.order

    async def close(self) -> None:
        await self.channel.close(grace=None)
