"""A tiny generic gRPC service for the kit's tests (no generated code needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from shop.common.v1 import common_pb2

SERVICE = "shop.test.v1.TestService"

Handler = Callable[[common_pb2.Money, grpc.aio.ServicerContext[Any, Any]], Awaitable[common_pb2.Money]]


def register(handlers: dict[str, Handler]) -> Callable[[Any, grpc.aio.Server], None]:
    """An `add_servicer` register function for unary methods taking and returning Money."""
    method_handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=common_pb2.Money.FromString,
            response_serializer=common_pb2.Money.SerializeToString,
        )
        for name, fn in handlers.items()
    }

    def add(_servicer: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, method_handlers),))

    return add


def stub(
    channel: grpc.aio.Channel, method: str
) -> grpc.aio.UnaryUnaryMultiCallable[common_pb2.Money, common_pb2.Money]:
    return channel.unary_unary(
        f"/{SERVICE}/{method}",
        request_serializer=common_pb2.Money.SerializeToString,
        response_deserializer=common_pb2.Money.FromString,
    )
