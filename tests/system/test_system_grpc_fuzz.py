"""gRPC fuzzing: every unary method of every service and of the gateway's public API, called on the
launched stack with generated requests (hypothesis, from the protobuf descriptors) as each kind of
caller (each service method over mutual TLS with the certificate of an identity its allow-list
admits: tooling where it may, else the service whose step it is). Whatever comes in, the answer is a
deliberate one: never INTERNAL, UNKNOWN or DATA_LOSS (a server error with a traceback behind it),
never a deadline blown by one request.

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
from shopkit.access import TOOLING

if TYPE_CHECKING:
    from shop_devstack.harness import Stack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
SERVER_ERRORS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
CALL_SECONDS = 20.0
# On whose behalf: nobody, a customer, the calling process itself, an admin.
CALLERS: dict[str, tuple[tuple[str, str], ...]] = {
    "anonymous": (),
    "customer": (("x-shop-role", "customer"), ("x-shop-customer-id", "fuzz-customer")),
    "service": (("x-shop-role", "service"),),
    "admin": (("x-shop-role", "admin"),),
}
# The gateway's public API takes a bearer token instead; without one it is an anonymous shopper.
GATEWAY_SERVICE = "shop.storefront.v1.StorefrontService"
TALLY: Counter[tuple[str, str]] = Counter()


def identity_for(process: str, method: Method) -> str:
    """Who calls `method`: tooling when its allow-list admits tooling, else the first service it names."""
    allowed = importlib.import_module(f"shop_{process}.access").CALLERS[method.name]
    return TOOLING if TOOLING in allowed else sorted(allowed)[0]


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
def channels(stack: Stack) -> Iterator[dict[tuple[str, str], grpc.Channel]]:
    """(process, identity) -> channel; the gateway's public port in plain text, as its clients call it."""
    opened = {("gateway", ""): grpc.insecure_channel(f"127.0.0.1:{GATEWAY_GRPC_PORT + stack.offset}")}
    for process, _, method in METHODS:
        if process != "gateway" and (key := (process, identity_for(process, method))) not in opened:
            opened[key] = stack.service_channel(*key)
    yield opened
    for channel in opened.values():
        channel.close()
    if TALLY:
        print("\nstatus codes per method:")
        for (path, code), count in sorted(TALLY.items()):
            print(f"  {path:70} {code:20} {count}")


@pytest.mark.parametrize(("process", "port", "method"), METHODS, ids=[f"{p}.{m.name}" for p, _, m in METHODS])
def test_no_request_gets_a_server_error(
    stack: Stack, channels: dict[tuple[str, str], grpc.Channel], process: str, port: int, method: Method
) -> None:
    identity = "" if process == "gateway" else identity_for(process, method)
    call = channels[(process, identity)].unary_unary(
        method.path,
        request_serializer=_serialized,
        response_deserializer=message_class(method.response).FromString,
    )
    callers = ["anonymous"] if method.service == GATEWAY_SERVICE else sorted(CALLERS)

    def signed(metadata: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """A user as the gateway names one to a service: in a token it signed for that service."""
        return metadata if process == "gateway" else stack.as_user(process, metadata)

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
            call(request, metadata=signed(CALLERS[caller]), timeout=CALL_SECONDS)
        except grpc.RpcError as error:
            code = error.code()
            details = error.details() or ""
        TALLY[(method.path, code.name)] += 1
        assert code not in SERVER_ERRORS, f"{method.path} as {caller}: {code.name} {details!r} for {request}"
        assert code is not grpc.StatusCode.DEADLINE_EXCEEDED, f"{method.path} as {caller}: no answer in time"

    check()
