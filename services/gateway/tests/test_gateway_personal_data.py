"""A customer's export and erasure at the edge: who may ask, the Idempotency-Key, and a 503 that names
the services that did not answer (here none of the data holders runs; the launched stack's system
test, tests/system/test_system_personal_data.py, goes through the whole flow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest

from shop.storefront.v1 import account_pb2, account_pb2_grpc
from shop_gateway.app import personal_data
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import Client


async def test_a_token_is_needed_and_the_admin_routes_are_for_admins(gateway: Client) -> None:
    gateway.problem(await gateway.http.get("/v1/me/export"), 401, "TOKEN_REQUIRED")
    gateway.problem(await gateway.http.delete("/v1/me", headers={"Idempotency-Key": "k" * 16}), 401, "TOKEN_REQUIRED")
    customer = await gateway.auth("customer")
    for response in (
        await gateway.http.get("/v1/admin/customers/someone/export", headers=customer),
        await gateway.http.post("/v1/admin/customers/someone/erase", headers={**customer, "Idempotency-Key": "k" * 16}),
    ):
        gateway.problem(response, 403, "ROLE_REQUIRED")
    analyst = await gateway.auth("fraud_analyst")
    gateway.problem(await gateway.http.get("/v1/me/export", headers=analyst), 403, "ROLE_REQUIRED")


async def test_an_erasure_needs_its_key_and_a_customer_id(gateway: Client) -> None:
    customer = await gateway.auth("customer")
    gateway.problem(await gateway.http.delete("/v1/me", headers=customer), 400, "IDEMPOTENCY_KEY_REQUIRED")
    admin = await gateway.auth("admin")
    body = gateway.problem(
        await gateway.http.post("/v1/admin/customers/%20x/erase", headers={**admin, "Idempotency-Key": "k" * 16}),
        400,
        "INVALID_ARGUMENT",
    )
    assert [e["field"] for e in body["errors"]] == ["customer_id"]


async def test_services_that_do_not_answer_make_a_503_to_repeat(gateway: Client) -> None:
    customer = await gateway.auth("customer")
    response = await gateway.http.delete("/v1/me", headers={**customer, "Idempotency-Key": gateway.unique("erase")})
    body = gateway.problem(response, 503, "ERASURE_INCOMPLETE")
    assert "Idempotency-Key" in body["detail"]
    export = await gateway.http.get("/v1/me/export", headers=customer)
    assert export.status_code == 503, export.text


async def test_the_same_answers_over_grpc(gateway: Client) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}")
    stub = account_pb2_grpc.AccountServiceStub(channel)  # type: ignore[no-untyped-call]
    customer = (("authorization", f"Bearer {await gateway.token()}"),)
    analyst = (("authorization", f"Bearer {await gateway.token(role='fraud_analyst')}"),)
    erase = account_pb2.EraseMeRequest(idempotency_key=gateway.unique("erase"))
    try:
        for call, code, reason in (
            (stub.ExportMyData(account_pb2.ExportMyDataRequest()), "UNAUTHENTICATED", "TOKEN_REQUIRED"),
            (stub.EraseMe(erase), "UNAUTHENTICATED", "TOKEN_REQUIRED"),
            (
                stub.ExportMyData(account_pb2.ExportMyDataRequest(), metadata=analyst),
                "PERMISSION_DENIED",
                "ROLE_REQUIRED",
            ),
            (
                stub.EraseMe(account_pb2.EraseMeRequest(), metadata=customer),
                "INVALID_ARGUMENT",
                "IDEMPOTENCY_KEY_REQUIRED",
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            info = parse_rpc_error(refused.value)
            assert (info.code.name, info.reason) == (code, reason), info
        # No data holder runs here but customers (it holds the B2B companies): each of the others is
        # named, and the same key may be sent again.
        with pytest.raises(grpc.aio.AioRpcError) as incomplete:
            await stub.EraseMe(erase, metadata=customer)
        info = parse_rpc_error(incomplete.value)
        assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "ERASURE_INCOMPLETE")
        assert set(info.metadata["failed_services"].split(",")) == set(personal_data.PARTS) - {"customers"}
        assert info.metadata["erased_services"] == "customers"
        with pytest.raises(grpc.aio.AioRpcError) as unanswered:
            await stub.ExportMyData(account_pb2.ExportMyDataRequest(), metadata=customer)
        assert unanswered.value.code() == grpc.StatusCode.UNAVAILABLE
        assert any(f"the {name} service" in (unanswered.value.details() or "") for name in personal_data.PARTS)
    finally:
        await channel.close(grace=None)
