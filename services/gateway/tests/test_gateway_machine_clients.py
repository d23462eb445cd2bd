"""Machine clients against a real customers service (which keeps them): an admin creates one with
scopes, the client gets a token with the client-credentials grant (RFC 6749 §4.4), the token admits
it to the operations of its scopes alone (403 INSUFFICIENT_SCOPE with the RFC 6750 challenge
otherwise, over HTTP and gRPC), rotation keeps the old secret for its grace period, and revocation
ends the client's tokens."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import jwt
import pytest

from shop.inventory.v1 import inventory_pb2
from shop.pricing.v1 import pricing_pb2
from shop.storefront.v1 import backoffice_pb2_grpc
from shop.storefront.v1 import storefront_pb2 as pb
from shop_customers.main import build as build_customers
from shop_customers.settings import CustomersSettings
from shop_gateway.scopes import GRANTS, RPC_OPERATIONS, SCOPES
from shopkit.errors import parse_rpc_error
from shopkit.testing import Postgres, free_port, grpc_address, peer

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import Client, GatewayFactory

CLIENTS = "/v1/admin/integration-clients"
TOKEN = "/v1/oauth/token"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
async def gateway(postgres: Postgres, nats_url: str, make_gateway: GatewayFactory) -> AsyncIterator[Client]:
    """A gateway with the customers service behind it (and a short revocation cache)."""
    async with contextlib.AsyncExitStack() as stack:
        customers = await stack.enter_async_context(
            peer(
                build_customers,
                CustomersSettings,
                postgres,
                nats_url,
                payment_provider_url=f"http://127.0.0.1:{free_port()}",
            )
        )
        yield await stack.enter_async_context(
            make_gateway(customers_addr=grpc_address(customers), machine_client_cache_seconds=0.0)
        )


async def new_client(gateway: Client, *scopes: str) -> dict[str, Any]:
    body = {"name": "ERP", "scopes": list(scopes), "request_id": gateway.unique("req")}
    response = await gateway.http.post(CLIENTS, json=body, headers=await gateway.auth("admin"))
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {**FORM, "authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def token_of(gateway: Client, client_id: str, secret: str, scope: str | None = None) -> httpx.Response:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    return await gateway.http.post(TOKEN, data=form, headers=basic(client_id, secret))


async def bearer(gateway: Client, created: dict[str, Any], scope: str | None = None) -> dict[str, str]:
    response = await token_of(gateway, created["client_id"], created["client_secret"], scope)
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def test_every_grant_names_a_scope_of_the_vocabulary_and_every_rpc_an_operation() -> None:
    assert {grant.scope for grant in GRANTS.values()} <= set(SCOPES)
    assert set(RPC_OPERATIONS.values()) <= set(GRANTS)


async def test_a_token_of_the_client_credentials_grant_carries_the_client_and_its_scopes(gateway: Client) -> None:
    created = await new_client(gateway, "catalog:read", "inventory:read")
    assert created["client_id"].startswith("ic_") and created["client_secret"]

    response = await token_of(gateway, created["client_id"], created["client_secret"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "catalog:read inventory:read"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == claims["sub"] == created["client_id"] and "role" not in claims
    assert claims["scope"] == "catalog:read inventory:read" and claims["exp"] - claims["iat"] == 300

    # the credentials in the form instead of HTTP Basic, narrowing the scopes
    form = {
        "grant_type": "client_credentials",
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
        "scope": "inventory:read",
    }
    response = await gateway.http.post(TOKEN, data=form, headers=FORM)
    assert response.status_code == 200 and response.json()["scope"] == "inventory:read"


async def test_token_errors_are_those_of_rfc_6749(gateway: Client) -> None:
    created = await new_client(gateway, "catalog:read")
    client_id, secret = created["client_id"], created["client_secret"]
    wrong = await token_of(gateway, client_id, "not-the-secret")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert wrong.headers["www-authenticate"].startswith("Basic")
    unknown = await token_of(gateway, "ic_nobody", secret)
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    for garbled in ("\x08ic\x00", "ic_\U000a9cc4"):  # the registry refuses them as malformed
        malformed = await token_of(gateway, garbled, secret)
        assert (malformed.status_code, malformed.json()["error"]) == (401, "invalid_client"), garbled
    beyond = await token_of(gateway, client_id, secret, "catalog:read pricing:write")
    assert (beyond.status_code, beyond.json()["error"]) == (400, "invalid_scope")
    grant = await gateway.http.post(TOKEN, data={"grant_type": "password"}, headers=basic(client_id, secret))
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    missing = await gateway.http.post(TOKEN, data={}, headers=basic(client_id, secret))
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    json_body = await gateway.http.post(TOKEN, json={"grant_type": "client_credentials"})
    assert (json_body.status_code, json_body.json()["error"]) == (400, "invalid_request")
    anonymous = await gateway.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=FORM)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "invalid_client")


async def test_the_scope_admits_and_its_absence_is_403_with_the_challenge(gateway: Client) -> None:
    created = await new_client(gateway, "inventory:read")
    headers = await bearer(gateway, created)
    admitted = await gateway.http.get("/v1/admin/locations", headers=headers)
    assert admitted.status_code == 200, admitted.text

    refused = await gateway.http.get("/v1/admin/price-lists", headers=headers)
    problem = gateway.problem(refused, 403, "INSUFFICIENT_SCOPE")
    assert problem["metadata"]["required_scope"] == "pricing:read"
    assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="pricing:read"'
    # people's routes admit no machine client, whatever its scopes
    for path in ("/v1/cart", "/v1/me", "/v1/orders", CLIENTS):
        gateway.problem(await gateway.http.get(path, headers=headers), 403, "INSUFFICIENT_SCOPE")


async def test_a_write_scope_acts_as_the_role_the_route_needs(gateway: Client) -> None:
    created = await new_client(gateway, "inventory:write", "inventory:read")
    headers = await bearer(gateway, created)
    location = gateway.unique("wms")
    body = {"location_id": location, "type": "warehouse", "name": "WMS site", "country": "US"}
    response = await gateway.http.post("/v1/admin/locations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert (await gateway.http.get(f"/v1/admin/locations/{location}", headers=headers)).status_code == 200


async def test_routes_a_factory_makes_go_by_method_and_path(gateway: Client) -> None:
    writer = await bearer(gateway, await new_client(gateway, "inventory:write"))
    feed = f"/v1/admin/stock-feeds/{gateway.unique('nofeed')}"
    assert (await gateway.http.get(feed, headers=writer)).status_code == 404  # admitted: the feed is unknown
    reader = await bearer(gateway, await new_client(gateway, "pricing:write"))
    refused = await gateway.http.get(feed, headers=reader)
    assert gateway.problem(refused, 403, "INSUFFICIENT_SCOPE")["metadata"]["required_scope"] == "inventory:write"


async def test_public_reads_need_catalog_read(gateway: Client) -> None:
    reader = await bearer(gateway, await new_client(gateway, "catalog:read"))
    assert (await gateway.http.get("/v1/categories", headers=reader)).status_code == 200
    other = await bearer(gateway, await new_client(gateway, "orders:read"))
    gateway.problem(await gateway.http.get("/v1/categories", headers=other), 403, "INSUFFICIENT_SCOPE")


async def test_grpc_checks_the_same_scopes(gateway: Client) -> None:
    created = await new_client(gateway, "inventory:read")
    metadata = tuple((await bearer(gateway, created)).items())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        office = backoffice_pb2_grpc.BackOfficeServiceStub(channel)  # type: ignore[no-untyped-call]
        await office.ListLocations(inventory_pb2.ListLocationsRequest(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await office.ListPriceLists(pricing_pb2.ListPriceListsRequest(), metadata=metadata)
        info = parse_rpc_error(refused.value)
        assert (info.code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "INSUFFICIENT_SCOPE")
        assert info.metadata["required_scope"] == "pricing:read"
        with pytest.raises(grpc.aio.AioRpcError) as cart:
            await gateway.grpc.GetCart(pb.GetCartRequest(), metadata=metadata)
        assert parse_rpc_error(cart.value).reason == "INSUFFICIENT_SCOPE"


async def test_rotation_keeps_the_old_secret_for_its_grace_and_revocation_ends_the_tokens(gateway: Client) -> None:
    admin = await gateway.auth("admin")
    created = await new_client(gateway, "inventory:read")
    client_id, old = created["client_id"], created["client_secret"]
    headers = await bearer(gateway, created)

    response = await gateway.http.post(
        f"{CLIENTS}/{client_id}/rotate-secret", json={"grace_seconds": 600}, headers=admin
    )
    assert response.status_code == 200, response.text
    new = response.json()["client_secret"]
    assert new and new != old and response.json()["previous_secret_expires_at"]
    assert (await token_of(gateway, client_id, old)).status_code == 200  # within the grace period
    assert (await token_of(gateway, client_id, new)).status_code == 200
    listed = await gateway.http.get(CLIENTS, headers=admin)
    assert client_id in [c["client_id"] for c in listed.json()["clients"]]
    assert all(c["client_secret"] is None for c in listed.json()["clients"])

    response = await gateway.http.post(f"{CLIENTS}/{client_id}/revoke", headers=admin)
    assert response.status_code == 200 and response.json()["revoked"]
    gateway.problem(await gateway.http.get("/v1/admin/locations", headers=headers), 401, "CLIENT_REVOKED")
    assert (await token_of(gateway, client_id, new)).status_code == 401
    again = await gateway.http.post(f"{CLIENTS}/{client_id}/revoke", headers=admin)
    assert again.status_code == 200 and again.json()["revoked_at"] == response.json()["revoked_at"]


async def test_the_admin_api_is_for_admins_and_checks_its_input(gateway: Client) -> None:
    body = {"name": "ERP", "scopes": ["catalog:read"]}
    staff = await gateway.auth("customer")
    gateway.problem(await gateway.http.post(CLIENTS, json=body, headers=staff), 403, "ROLE_REQUIRED")
    admin = await gateway.auth("admin")
    bad = await gateway.http.post(CLIENTS, json={"name": "ERP", "scopes": ["everything"]}, headers=admin)
    problem = gateway.problem(bad, 400, "INVALID_ARGUMENT")
    assert [e["field"] for e in problem["errors"]] == ["scopes[0]"]
    missing = await gateway.http.get(f"{CLIENTS}/ic_nobody", headers=admin)
    gateway.problem(missing, 404, "NOT_FOUND")


async def test_the_document_names_each_operations_scope(gateway: Client) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["machineClient"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == TOKEN
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == set(SCOPES)
    operation = document["paths"]["/v1/admin/locations"]["get"]
    assert operation["x-required-scope"] == "inventory:read"
    assert {"machineClient": ["inventory:read"]} in operation["security"]
    assert "x-required-scope" not in document["paths"]["/v1/cart"]["get"]
    token = document["paths"][TOKEN]["post"]["responses"]
    assert set(token["400"]["content"]) == set(token["401"]["content"]) == {"application/json"}
    assert "application/problem+json" in token["429"]["content"]
    assert "application/x-www-form-urlencoded" in document["paths"][TOKEN]["post"]["requestBody"]["content"]
