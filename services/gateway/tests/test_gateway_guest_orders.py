"""Guests' orders at the edge: the lookup's input, the order token's checks and the lookups' limit, before
the order service is asked (tests/system/test_system_guests.py runs a guest's return end to end)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.storefront.v1 import returns_pb2, returns_pb2_grpc
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import Client

TOKEN = "X-Order-Token"


async def test_a_lookup_needs_an_order_number_and_an_email(gateway: Client) -> None:
    answer = await gateway.http.post("/v1/guest-orders/lookup", json={"order_number": "123", "email": "nobody"})
    problem = gateway.problem(answer, 400, "INVALID_ARGUMENT")
    assert sorted(e["field"] for e in problem["errors"]) == ["email", "order_number"]


async def test_the_order_routes_need_an_order_token_of_that_order(gateway: Client) -> None:
    order_id = str(uuid.uuid4())
    missing = await gateway.http.get(f"/v1/guest-orders/{order_id}")
    gateway.problem(missing, 401, "ORDER_TOKEN_REQUIRED")
    forged = await gateway.http.get(f"/v1/guest-orders/{order_id}/returns", headers={TOKEN: "not-a-token"})
    gateway.problem(forged, 401, "INVALID_ORDER_TOKEN")
    # A bearer token of the dev issuer is no order token (another key, another audience).
    bearer = await gateway.token()
    gateway.problem(
        await gateway.http.get(f"/v1/guest-orders/{order_id}", headers={TOKEN: bearer}), 401, "INVALID_ORDER_TOKEN"
    )
    other = gateway.runtime.gateway.shop.order_tokens.issue(str(uuid.uuid4()))
    elsewhere = await gateway.http.get(f"/v1/guest-orders/{order_id}", headers={TOKEN: other})
    gateway.problem(elsewhere, 404, "NOT_FOUND")
    body = {"lines": [{"line_id": order_id, "quantity": 1}], "reason": "changed_mind", "method": "mail"}
    refused = await gateway.http.post(
        f"/v1/guest-orders/{order_id}/returns",
        json=body,
        headers={TOKEN: other, "Idempotency-Key": gateway.unique("r")},
    )
    gateway.problem(refused, 404, "NOT_FOUND")


async def test_an_order_token_is_not_a_bearer_token(gateway: Client) -> None:
    token = gateway.runtime.gateway.shop.order_tokens.issue(str(uuid.uuid4()))
    answer = await gateway.http.get("/v1/orders", headers={"Authorization": f"Bearer {token}"})
    gateway.problem(answer, 401, "INVALID_TOKEN")


async def test_lookups_of_one_order_number_are_limited(gateway: Client) -> None:
    number = f"SO-{uuid.uuid4().int % 10**9:09d}"
    codes = []
    for i in range(8):
        answer = await gateway.http.post(
            "/v1/guest-orders/lookup",
            json={"order_number": number, "email": f"guess-{i}@example.com"},
            headers={"x-forwarded-for": f"203.0.113.{i + 1}"},
        )
        codes.append(answer.status_code)
    assert 429 in codes, codes


async def test_guests_over_grpc(gateway: Client) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        stub = returns_pb2_grpc.ReturnsServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.LookupGuestOrder(returns_pb2.LookupGuestOrderRequest(order_number="1", email="x"))
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        order_id = str(uuid.uuid4())
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await stub.ListReturns(
                returns_pb2.ListReturnsRequest(order_id=order_id), metadata=(("x-order-token", "forged"),)
            )
        assert parse_rpc_error(forged.value).reason == "INVALID_ORDER_TOKEN"
        other = gateway.runtime.gateway.shop.order_tokens.issue(str(uuid.uuid4()))
        with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
            await stub.ListReturns(
                returns_pb2.ListReturnsRequest(order_id=order_id), metadata=(("x-order-token", other),)
            )
        assert elsewhere.value.code() == grpc.StatusCode.NOT_FOUND
