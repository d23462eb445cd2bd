"""Every caller proves who it is, on the launched stack: each refusal with the real services and the
certificates `shop-dev run` issued (a wrong certificate, plain text, an identity calling a method its
allow-list does not give it, a bare role header, a user token for another service or not signed by
the gateway), and nothing changed by a refused call; and every method of every service against every
identity the CA issues, admitted or refused exactly as its allow-list says."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import grpc
import pytest

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop_devstack.grpcfuzz import Method, message_class, unary_methods
from shop_devstack.harness import Stack
from shop_devstack.layout import SERVICE_PORTS
from shopkit import pki
from shopkit.access import IDENTITIES
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.usertoken import Signer

SKU = "IDENTITY-TEST-SKU"
AS_ADMIN = (("x-shop-role", "admin"),)


Metadata = tuple[tuple[str, str], ...]


def refused(call: Any, request: object, metadata: Metadata) -> RpcErrorInfo:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=10, metadata=metadata)
    assert isinstance(error.value, grpc.Call)
    return parse_rpc_error(error.value)  # type: ignore[arg-type]


def inventory_as(stack: Stack, identity: str) -> inventory_pb2_grpc.InventoryServiceStub:
    return inventory_pb2_grpc.InventoryServiceStub(stack.service_channel("inventory", identity))


def stock_rows(stack: Stack) -> int:
    levels = inventory_as(stack, "tooling").GetStockLevels(inventory_pb2.GetStockLevelsRequest(skus=[SKU]), timeout=10)
    return len(levels.stock)


def test_a_certificate_of_another_authority_or_none_cannot_connect(stack: Stack, tmp_path: Path) -> None:
    pki.issue(tmp_path, ["tooling"], authority="not the shop's CA")
    stranger = grpc.ssl_channel_credentials(
        (stack.data_dir / "pki" / "ca.pem").read_bytes(),
        (tmp_path / "tooling-key.pem").read_bytes(),
        (tmp_path / "tooling.pem").read_bytes(),
    )
    target = f"127.0.0.1:{SERVICE_PORTS['inventory'][0] + stack.offset}"
    request = inventory_pb2.ListLocationsRequest()
    for channel in (grpc.secure_channel(target, stranger), grpc.insecure_channel(target)):
        with channel:
            call = inventory_pb2_grpc.InventoryServiceStub(channel).ListLocations
            assert refused(call, request, metadata=(("x-shop-role", "admin"),)).code is grpc.StatusCode.UNAVAILABLE


def test_a_service_cannot_call_a_method_its_allow_list_does_not_give_it(stack: Stack) -> None:
    before = stock_rows(stack)
    entry = inventory_pb2.SetStockEntry(sku=SKU, location_id="wh-de-erfurt", on_hand=1000)
    request = inventory_pb2.SetStockRequest(entries=[entry])
    info = refused(inventory_as(stack, "cart").SetStock, request, metadata=(("x-shop-role", "service"),))
    assert (info.code, info.reason, info.metadata["caller"]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CALLER_NOT_ALLOWED",
        "cart",
    )
    assert stock_rows(stack) == before


def test_the_saga_steps_are_checkouts_alone(stack: Stack) -> None:
    orders = order_pb2_grpc.OrderServiceStub(stack.service_channel("order", "tooling"))
    info = refused(orders.CreateOrder, order_pb2.CreateOrderRequest(), metadata=())
    assert (info.code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")


def test_a_bare_role_header_is_refused_even_from_the_gateway(stack: Stack) -> None:
    for identity in ("gateway", "checkout", "tooling"):
        orders = order_pb2_grpc.OrderServiceStub(stack.service_channel("order", identity))
        info = refused(orders.GetOrder, order_pb2.GetOrderRequest(order_id="ord-any"), metadata=AS_ADMIN)
        assert (info.code, info.reason, info.metadata["header"]) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "USER_TOKEN_REQUIRED",
            "x-shop-role",
        ), identity


def test_a_user_token_for_another_service_or_signed_by_another_key_is_refused(stack: Stack) -> None:
    orders = order_pb2_grpc.OrderServiceStub(stack.service_channel("order", "gateway"))
    request = order_pb2.ListOrdersRequest()
    pki_dir = stack.data_dir / "pki"

    def signed_by(key_of: str, certificate_of: str) -> tuple[tuple[str, str], ...]:
        key, cert = (pki_dir / f"{key_of}-key.pem").read_bytes(), (pki_dir / f"{certificate_of}.pem").read_bytes()
        return tuple(Signer(key, cert).metadata(AS_ADMIN, "order"))

    for_the_cart = stack.as_user("cart", AS_ADMIN)
    for metadata in (for_the_cart, signed_by("checkout", "checkout"), signed_by("checkout", "gateway")):
        info = refused(orders.ListOrders, request, metadata=tuple(metadata))
        assert (info.code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "USER_TOKEN_INVALID")
    listed = orders.ListOrders(request, metadata=stack.as_user("order", AS_ADMIN), timeout=10)
    assert listed is not None  # the gateway's own token for the order service is believed


def every_method() -> list[tuple[str, Method]]:
    found = []
    for service in SERVICE_PORTS:
        module = importlib.import_module(f"shop.{service}.v1.{service}_pb2")
        for descriptor in module.DESCRIPTOR.services_by_name.values():
            found += [(service, method) for method in unary_methods(descriptor)]
    return found


def test_every_method_answers_every_identity_as_its_allow_list_says(stack: Stack) -> None:
    """Each unary method of each service, called with an empty request by every identity the CA issues:
    refused CALLER_NOT_ALLOWED exactly when the method's list leaves the identity out."""
    channels = {(s, i): stack.service_channel(s, i) for s in SERVICE_PORTS for i in IDENTITIES}
    wrong: list[str] = []
    try:
        for service, method in every_method():
            allowed = importlib.import_module(f"shop_{service}.access").CALLERS[method.name]
            empty = message_class(method.request)()
            for identity in IDENTITIES:
                call = channels[(service, identity)].unary_unary(
                    method.path,
                    request_serializer=lambda message: message.SerializeToString(),
                    response_deserializer=message_class(method.response).FromString,
                )
                refused_here = False
                try:
                    call(empty, timeout=10)
                except grpc.RpcError as error:
                    assert isinstance(error, grpc.Call)
                    refused_here = parse_rpc_error(error).reason == "CALLER_NOT_ALLOWED"  # type: ignore[arg-type]
                if refused_here == (identity in allowed):
                    wrong.append(f"{method.path} as {identity}: {'refused' if refused_here else 'admitted'}")
    finally:
        for channel in channels.values():
            channel.close()
    assert not wrong, "\n".join(wrong)
