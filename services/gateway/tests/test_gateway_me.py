"""/v1/me through the gateway against the real customers service and payment sandbox: the profile,
saved addresses with their defaults, saved cards; shoppers only, each their own. And the order view's
shipments (carrier, tracking) mapped from order's fulfilments."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shop.storefront.v1 import account_pb2, account_pb2_grpc
from shop_customers.main import build as build_customers
from shop_customers.settings import CustomersSettings
from shop_gateway.app import mapping
from shop_sandbox.client import SandboxClient
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.settings import SandboxSettings
from shopkit.testing import Postgres, grpc_address, peer

if TYPE_CHECKING:
    from conftest import Backends, Client, GatewayFactory


@pytest.fixture(scope="module")
async def account(
    postgres: Postgres, nats_url: str, backends: Backends, make_gateway: GatewayFactory
) -> AsyncIterator[tuple[Client, SandboxClient]]:
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(
            peer(build_sandbox, SandboxSettings, postgres, nats_url, http_host="127.0.0.1", http_port=0)
        )
        customers = await stack.enter_async_context(
            peer(build_customers, CustomersSettings, postgres, nats_url, payment_provider_url=sandbox.base_url)
        )
        client = await stack.enter_async_context(make_gateway(customers_addr=grpc_address(customers)))
        provider = SandboxClient(sandbox.base_url)
        stack.push_async_callback(provider.aclose)
        yield client, provider


async def test_a_shopper_reads_and_changes_their_profile(account: tuple[Client, SandboxClient]) -> None:
    client, _ = account
    headers = await client.auth()
    first = await client.http.get("/v1/me", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1 and first.json()["email"] == ""
    body = {"display_name": "Ada", "email": "ada@example.com", "country": "de", "marketing_consent": True}
    changed = await client.http.patch("/v1/me", json=body, headers=headers)
    assert changed.status_code == 200, changed.text
    profile = changed.json()
    assert (profile["display_name"], profile["country"], profile["marketing_consent"]) == ("Ada", "DE", True)
    assert profile["marketing_consent_at"] and profile["version"] == 2
    stale = await client.http.patch("/v1/me", json={"display_name": "Bo", "version": 1}, headers=headers)
    client.problem(stale, 409, "VERSION_MISMATCH")
    bad = await client.http.patch("/v1/me", json={"email": "nope", "currency": "EURO"}, headers=headers)
    fields = {e["field"] for e in client.problem(bad, 400, "INVALID_ARGUMENT")["errors"]}
    assert fields == {"email", "currency"}
    # A version past int64 (the HTTP fuzzer's; it was a server error) names the field.
    huge = await client.http.patch("/v1/me", json={"version": 212512412749092421632}, headers=headers)
    assert [e["field"] for e in client.problem(huge, 400, "INVALID_ARGUMENT")["errors"]] == ["version"]
    assert (await client.http.get("/v1/me", headers=headers)).json() == profile


async def test_only_shoppers_have_an_account(account: tuple[Client, SandboxClient]) -> None:
    client, _ = account
    client.problem(await client.http.get("/v1/me"), 401, "TOKEN_REQUIRED")
    admin = await client.auth("admin")
    client.problem(await client.http.get("/v1/me/addresses", headers=admin), 403, "ROLE_REQUIRED")
    buyer = await client.auth("b2b_buyer", account_id=client.unique("acct"))
    assert (await client.http.get("/v1/me", headers=buyer)).status_code == 200


async def test_saved_addresses_with_their_defaults(account: tuple[Client, SandboxClient]) -> None:
    client, _ = account
    headers = await client.auth()
    home = {"label": "Home", "name": "Ada", "line1": "Main St 1", "city": "Berlin", "country": "DE"}
    key = {"Idempotency-Key": client.unique("address")}
    for _ in range(2):  # a retried add adds once
        added = await client.http.post("/v1/me/addresses", json=home, headers={**headers, **key})
        assert added.status_code == 201, added.text
    first = added.json()
    assert first["default_shipping"] and first["default_billing"] and first["address"]["city"] == "Berlin"
    office = {**home, "label": "Office", "city": "Hamburg", "default_billing": True}
    second = (await client.http.post("/v1/me/addresses", json=office, headers=headers)).json()
    listed = (await client.http.get("/v1/me/addresses", headers=headers)).json()["addresses"]
    assert [(a["label"], a["default_shipping"], a["default_billing"]) for a in listed] == [
        ("Home", True, False),
        ("Office", False, True),
    ]
    patch = {"default_shipping": True, "address": {**{k: v for k, v in home.items() if k != "label"}, "city": "Kiel"}}
    moved = await client.http.patch(f"/v1/me/addresses/{second['address_id']}", json=patch, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["default_shipping"] and moved.json()["address"]["city"] == "Kiel"
    bad = await client.http.post("/v1/me/addresses", json={"name": "Ada", "country": "Germany"}, headers=headers)
    fields = {e["field"] for e in client.problem(bad, 400, "INVALID_ARGUMENT")["errors"]}
    assert fields == {"line1", "city", "country"}
    # Another shopper neither sees nor changes it.
    other = await client.auth()
    assert (await client.http.get("/v1/me/addresses", headers=other)).json()["addresses"] == []
    theirs = await client.http.patch(f"/v1/me/addresses/{first['address_id']}", json={"label": "x"}, headers=other)
    client.problem(theirs, 404, "NOT_FOUND")
    for _ in range(2):
        deleted = await client.http.delete(f"/v1/me/addresses/{first['address_id']}", headers=headers)
        assert deleted.status_code == 204
    assert len((await client.http.get("/v1/me/addresses", headers=headers)).json()["addresses"]) == 1


async def test_a_saved_card_is_the_providers_token(account: tuple[Client, SandboxClient]) -> None:
    client, provider = account
    headers = await client.auth()
    token = (await provider.tokenise("4242424242424242", 9, 2031, "123", billing_country="DE")).id
    saved = await client.http.post("/v1/me/payment-methods", json={"payment_method_id": token}, headers=headers)
    assert saved.status_code == 201, saved.text
    card = saved.json()
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == ("visa", "4242", 9, 2031)
    assert "number" not in card
    listed = (await client.http.get("/v1/me/payment-methods", headers=headers)).json()["payment_methods"]
    assert [m["payment_method_id"] for m in listed] == [token]
    taken = await client.http.post(
        "/v1/me/payment-methods", json={"payment_method_id": token}, headers=await client.auth()
    )
    client.problem(taken, 409, "PAYMENT_METHOD_TAKEN")
    unknown = await client.http.post("/v1/me/payment-methods", json={"payment_method_id": "pm_nope"}, headers=headers)
    assert [e["field"] for e in client.problem(unknown, 400, "INVALID_ARGUMENT")["errors"]] == ["payment_method_id"]
    assert (await client.http.delete(f"/v1/me/payment-methods/{token}", headers=headers)).status_code == 204
    assert (await client.http.get("/v1/me/payment-methods", headers=headers)).json()["payment_methods"] == []


def test_an_orders_view_shows_its_shipments_with_carrier_and_tracking() -> None:
    shipped = Timestamp(seconds=1_800_000_000)
    order = order_pb2.Order(
        order_id="o-1",
        currency="EUR",
        fulfilments=[
            order_pb2.Fulfilment(
                fulfilment_id="f-1",
                lines=[order_pb2.LineQuantity(line_id="l-1", quantity=2)],
                carrier="DHL",
                tracking_number="TRK-1",
                fulfilled_at=shipped,
            )
        ],
    )
    (shipment,) = mapping.order(order).shipments
    assert (shipment.shipment_id, shipment.carrier, shipment.tracking_number) == ("f-1", "DHL", "TRK-1")
    assert shipment.shipped_at == shipped.ToJsonString() and shipment.lines[0].quantity == 2


async def test_the_account_over_grpc(account: tuple[Client, SandboxClient]) -> None:
    client, provider = account
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{client.runtime.grpc_port}")
    stub = account_pb2_grpc.AccountServiceStub(channel)  # type: ignore[no-untyped-call]
    try:
        token = await client.token()
        metadata = (("authorization", f"Bearer {token}"),)
        update = account_pb2.UpdateProfileRequest(display_name="Grace")
        assert (await stub.UpdateProfile(update, metadata=metadata)).display_name == "Grace"
        assert (await stub.GetProfile(account_pb2.GetProfileRequest(), metadata=metadata)).version == 2
        home = common_pb2.Address(name="Grace", line1="1 Navy Way", city="Arlington", country="US")
        added = await stub.AddAddress(
            account_pb2.AddAddressRequest(address=home, idempotency_key="k-1"), metadata=metadata
        )
        assert added.default_shipping and added.created_at
        listed = await stub.ListAddresses(account_pb2.ListAddressesRequest(), metadata=metadata)
        assert [a.address_id for a in listed.addresses] == [added.address_id]
        pm = (await provider.tokenise("5555555555554444", 1, 2032, "123")).id
        saved = await stub.AddPaymentMethod(
            account_pb2.AddPaymentMethodRequest(payment_method_id=pm), metadata=metadata
        )
        assert (saved.brand, saved.last4) == ("mastercard", "4444")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetProfile(account_pb2.GetProfileRequest())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close(grace=None)
