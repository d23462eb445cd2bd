"""A client of the public gRPC API (shop.storefront.v1.StorefrontService) reporting to locust."""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from locust import User, between, tag, task

from shop.storefront.v1 import storefront_pb2, storefront_pb2_grpc
from shop_load.config import GATEWAY_GRPC, SEARCH_TERMS

# grpcio's blocking calls must cooperate with gevent, or one call would stall every locust user.
importlib.import_module("grpc.experimental.gevent").init_gevent()  # no type stubs for it

ResponseT = TypeVar("ResponseT", bound=Message)


class StorefrontGrpcUser(User):
    """Anonymous browsing over gRPC: search, then open one of the hits."""

    weight = 2
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.channel = grpc.insecure_channel(GATEWAY_GRPC)
        self.stub = storefront_pb2_grpc.StorefrontServiceStub(self.channel)

    def on_stop(self) -> None:
        self.channel.close()

    def call(self, name: str, method: Callable[..., ResponseT], request: Any) -> ResponseT | None:
        """One RPC, reported as a locust request (request_type grpc); errors are failures."""
        started = time.perf_counter()
        response: ResponseT | None = None
        error: Exception | None = None
        try:
            response = method(request, timeout=10)
        except grpc.RpcError as exc:
            error = exc
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=response.ByteSize() if response is not None else 0,
            exception=error,
            context={},
        )
        return response

    @tag("grpc")
    @task(3)
    def search_and_get(self) -> None:
        listed = self.call(
            "StorefrontService/ListProducts",
            self.stub.ListProducts,
            storefront_pb2.ListProductsRequest(query=random.choice(SEARCH_TERMS), page_size=10),
        )
        if listed is not None and listed.products:
            self.call(
                "StorefrontService/GetProduct",
                self.stub.GetProduct,
                storefront_pb2.GetProductRequest(id=random.choice(listed.products).id),
            )

    @tag("grpc")
    @task(1)
    def categories(self) -> None:
        self.call("StorefrontService/ListCategories", self.stub.ListCategories, storefront_pb2.ListCategoriesRequest())
