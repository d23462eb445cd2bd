"""gRPC fuzzing: every unary method of every service and of the gateway's public API, called on the
launched stack with generated requests (hypothesis, from the protobuf descriptors) as each kind of
caller. Whatever comes in, the answer is a deliberate one: never INTERNAL, UNKNOWN or DATA_LOSS (a
server error with a traceback behind it), never a deadline blown by one request.

`make test` runs a few examples per method; `make fuzz` runs many (FUZZ_EXAMPLES, default 200) and
prints a table of the status codes per method.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop_devstack.grpcfuzz import Method, message_class, requests, unary_methods
from shop_devstack.layout import GATEWAY_GRPC_PORT, SERVICE_PORTS

if TYPE_CHECKING:
    from shop_devstack.harness import Stack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
SERVER_ERRORS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
CALL_SECONDS = 20.0
# Who calls: nobody, a customer, another service, an operator (the bare headers the services read today).
CALLERS: dict[str, tuple[tuple[str, str], ...]] = {
    "anonymous": (),
    "customer": (("x-shop-role", "customer"), ("x-shop-customer-id", "fuzz-customer")),
    "service": (("x-shop-role", "service"),),
    "admin": (("x-shop-role", "admin"),),
}
# The gateway's public API takes a bearer token instead; without one it is an anonymous shopper.
GATEWAY_SERVICE = "shop.storefront.v1.StorefrontService"
TALLY: Counter[tuple[str, str]] = Counter()


def _services() -> Iterator[tuple[str, int, Method]]:
    for name, (port, _) in SERVICE_PORTS.items():
        module = importlib.import_module(f"shop.{name}.v1.{name}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in unary_methods(service):
                yield name, port, method
    storefront = importlib.import_module("shop.storefront.v1.storefront_pb2")
    for method in unary_methods(storefront.DESCRIPTOR.services_by_name["StorefrontService"]):
        yield "gateway", GATEWAY_GRPC_PORT, method


METHODS = list(_services())


def _serialized(message: Message) -> bytes:
    return message.SerializeToString()


@pytest.fixture(scope="module")
def channels(stack: Stack) -> Iterator[dict[int, grpc.Channel]]:
    opened = {port: grpc.insecure_channel(f"127.0.0.1:{port + stack.offset}") for _, port, _ in METHODS}
    yield opened
    for channel in opened.values():
        channel.close()
    if TALLY:
        print("\nstatus codes per method:")
        for (path, code), count in sorted(TALLY.items()):
            print(f"  {path:70} {code:20} {count}")


@pytest.mark.parametrize(("process", "port", "method"), METHODS, ids=[f"{p}.{m.name}" for p, _, m in METHODS])
def test_no_request_gets_a_server_error(
    channels: dict[int, grpc.Channel], process: str, port: int, method: Method
) -> None:
    call = channels[port].unary_unary(
        method.path,
        request_serializer=_serialized,
        response_deserializer=message_class(method.response).FromString,
    )
    callers = ["anonymous"] if method.service == GATEWAY_SERVICE else sorted(CALLERS)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(request=requests(method.request), caller=st.sampled_from(callers))
    def check(request: Message, caller: str) -> None:
        code, details = grpc.StatusCode.OK, ""
        try:
            call(request, metadata=CALLERS[caller], timeout=CALL_SECONDS)
        except grpc.RpcError as error:
            code = error.code()
            details = error.details() or ""
        TALLY[(method.path, code.name)] += 1
        assert code not in SERVER_ERRORS, f"{method.path} as {caller}: {code.name} {details!r} for {request}"
        assert code is not grpc.StatusCode.DEADLINE_EXCEEDED, f"{method.path} as {caller}: no answer in time"

    check()
