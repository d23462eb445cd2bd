"""Returns at the edge: who may take each step, over HTTP and gRPC, before any service is asked (the
order service decides the rest; tests/system/test_system_returns.py runs whole returns)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.storefront.v1 import returns_pb2, returns_pb2_grpc
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import Client


@pytest.fixture
async def returns(gateway: Client) -> AsyncIterator[returns_pb2_grpc.ReturnsServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        yield returns_pb2_grpc.ReturnsServiceStub(channel)  # type: ignore[no-untyped-call]


async def test_the_dev_issuer_issues_store_staff_tokens(gateway: Client) -> None:
    assert await gateway.token(role="store_staff")


async def test_only_store_staff_and_admins_receive_and_inspect(gateway: Client) -> None:
    somebody = str(uuid.uuid4())
    for role in ("customer", "b2b_buyer", "fraud_analyst"):
        claims = {"account_id": "acme"} if role == "b2b_buyer" else {}
        headers = await gateway.auth(role, **claims)
        received = await gateway.http.post(
            f"/v1/returns/{somebody}/receive", json={"location_id": "store-1"}, headers=headers
        )
        gateway.problem(received, 403, "ROLE_REQUIRED")
        inspected = await gateway.http.post(
            f"/v1/returns/{somebody}/inspect",
            json={"lines": [{"line_id": somebody, "accepted_sellable": 1}]},
            headers={**headers, "Idempotency-Key": gateway.unique("inspect")},
        )
        gateway.problem(inspected, 403, "ROLE_REQUIRED")
    analyst = await gateway.auth("fraud_analyst")
    gateway.problem(await gateway.http.get(f"/v1/returns/{somebody}", headers=analyst), 403, "ROLE_REQUIRED")
    anonymous = await gateway.http.post(f"/v1/returns/{somebody}/receive", json={"location_id": "store-1"})
    gateway.problem(anonymous, 401, "TOKEN_REQUIRED")


async def test_store_staff_receive_only_at_the_locations_of_their_token(gateway: Client) -> None:
    somebody = str(uuid.uuid4())
    staff = await gateway.auth("store_staff", locations=["store-a"])
    elsewhere = await gateway.http.post(
        f"/v1/returns/{somebody}/receive", json={"location_id": "store-b"}, headers=staff
    )
    problem = gateway.problem(elsewhere, 403, "LOCATION_NOT_ASSIGNED")
    assert "store-b" in problem["detail"]
    unbound = await gateway.auth("store_staff")
    refused = await gateway.http.post(
        f"/v1/returns/{somebody}/receive", json={"location_id": "store-a"}, headers=unbound
    )
    gateway.problem(refused, 403, "LOCATION_NOT_ASSIGNED")
    bad = await gateway.http.post("/v1/auth/token", json={"username": "x", "role": "store_staff", "locations": ["A B"]})
    gateway.problem(bad, 400, "INVALID_ARGUMENT")


async def test_a_token_with_a_malformed_locations_claim_is_refused(gateway: Client) -> None:
    issuer = gateway.runtime.gateway.issuer
    assert issuer is not None
    now = int(time.time())
    claims = {
        "iss": gateway.runtime.settings.jwt_issuer,
        "aud": gateway.runtime.settings.jwt_audience,
        "sub": "clerk",
        "iat": now,
        "exp": now + 60,
        "role": "store_staff",
        "shop_locations": [{"id": "store-a"}],
    }
    headers = {"Authorization": f"Bearer {issuer.sign(claims)}"}
    somebody = str(uuid.uuid4())
    refused = await gateway.http.get(f"/v1/returns/{somebody}", headers=headers)
    gateway.problem(refused, 401, "INVALID_TOKEN")


async def test_a_return_needs_its_idempotency_key_and_a_store_for_store_returns(gateway: Client) -> None:
    customer = await gateway.auth("customer")
    order_id = str(uuid.uuid4())
    body = {"lines": [{"line_id": order_id, "quantity": 1}], "reason": "changed_mind", "method": "store"}
    keyless = await gateway.http.post(f"/v1/orders/{order_id}/returns", json=body, headers=customer)
    gateway.problem(keyless, 400, "IDEMPOTENCY_KEY_REQUIRED")
    headers = {**customer, "Idempotency-Key": gateway.unique("return")}
    no_store = await gateway.http.post(f"/v1/orders/{order_id}/returns", json=body, headers=headers)
    problem = gateway.problem(no_store, 400, "INVALID_ARGUMENT")
    assert [e["field"] for e in problem["errors"]] == ["store_id"]


async def test_roles_over_grpc(gateway: Client, returns: returns_pb2_grpc.ReturnsServiceAsyncStub) -> None:
    customer = (("authorization", f"Bearer {await gateway.token(role='customer')}"),)
    somebody = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await returns.ReceiveReturn(
            returns_pb2.ReceiveReturnRequest(return_id=somebody, location_id="store-1"), metadata=customer
        )
    info = parse_rpc_error(refused.value)
    assert (info.code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await returns.GetReturn(returns_pb2.GetReturnRequest(return_id=somebody))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as keyless:
        await returns.RequestReturn(
            returns_pb2.RequestReturnRequest(
                order_id=somebody,
                lines=[returns_pb2.ReturnLineInput(line_id=somebody, quantity=1)],
                reason="changed_mind",
                method="mail",
            ),
            metadata=customer,
        )
    assert parse_rpc_error(keyless.value).reason == "IDEMPOTENCY_KEY_REQUIRED"
