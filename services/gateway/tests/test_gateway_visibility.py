"""A product page is shown only to callers of a channel the product is published to, while it is active:
anonymous and web callers get the 404 of a missing product for a b2b-only one, by id and by slug, over
HTTP and gRPC; b2b callers and admins see it. The public cache never holds nor serves it wrongly."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.storefront.v1 import storefront_pb2
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

Headers = dict[str, str]
WEB_ROLES = ("customer", "fraud_analyst")
B2B_ROLES = ("b2b_buyer", "b2b_approver")


async def seed(client: Client, channels: list[str], status: str = "active") -> dict[str, Any]:
    """A product of its own category, created through the admin API."""
    admin = await client.auth("admin")
    category = client.unique("cat")
    created = await client.http.post("/v1/categories", json={"slug": category, "name": category.title()}, headers=admin)
    assert created.status_code == 201, created.text
    body = {
        "name": f"Pallet {uuid.uuid4().hex[:8]}",
        "category": category,
        "status": status,
        "channels": channels,
        "variants": [{"sku": client.unique("PAL").upper()}],
    }
    product = await client.http.post("/v1/products", json=body, headers=admin)
    assert product.status_code == 201, product.text
    found: dict[str, Any] = product.json()
    return found


async def callers(client: Client, roles: tuple[str, ...]) -> list[Headers]:
    return [await client.auth(role, account_id="acme" if role in B2B_ROLES else "") for role in roles]


async def http_statuses(client: Client, product: dict[str, Any], who: list[Headers]) -> list[int]:
    """The status of every caller's product page, by id and by slug."""
    return [
        (await client.http.get(f"/v1/products/{key}", headers=headers)).status_code
        for headers in who
        for key in (product["id"], product["slug"])
    ]


async def grpc_codes(client: Client, product: dict[str, Any], who: list[Headers]) -> list[grpc.StatusCode]:
    codes = []
    for headers in who:
        metadata = tuple((name.lower(), value) for name, value in headers.items())
        for key in (product["id"], product["slug"]):
            try:
                answer = await client.grpc.GetProduct(storefront_pb2.GetProductRequest(id=key), metadata=metadata)
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
            else:
                assert answer.product.id == product["id"]
                codes.append(grpc.StatusCode.OK)
    return codes


def same_but_key(problem: dict[str, Any], key: str) -> str:
    """A problem answer without what differs between any two requests: the key asked for, the trace."""
    return json.dumps({**problem, "trace_id": ""}, sort_keys=True).replace(key, "KEY")


@pytest.fixture
async def b2b_only(gateway: Client) -> dict[str, Any]:
    return await seed(gateway, ["b2b"])


async def test_b2b_only_products_are_not_found_for_anonymous_and_web_callers_over_http(
    gateway: Client, b2b_only: dict[str, Any]
) -> None:
    web = [{}, *await callers(gateway, WEB_ROLES)]
    assert await http_statuses(gateway, b2b_only, web) == [404] * 6
    allowed = await callers(gateway, (*B2B_ROLES, "admin"))
    assert await http_statuses(gateway, b2b_only, allowed) == [200] * 6


async def test_b2b_only_products_are_not_found_for_anonymous_and_web_callers_over_grpc(
    gateway: Client, b2b_only: dict[str, Any]
) -> None:
    web = [{}, *await callers(gateway, WEB_ROLES)]
    assert await grpc_codes(gateway, b2b_only, web) == [grpc.StatusCode.NOT_FOUND] * 6
    allowed = await callers(gateway, (*B2B_ROLES, "admin"))
    assert await grpc_codes(gateway, b2b_only, allowed) == [grpc.StatusCode.OK] * 6


async def test_a_hidden_product_answers_like_a_missing_one(gateway: Client, b2b_only: dict[str, Any]) -> None:
    customer = await gateway.auth("customer")
    for key, missing in ((b2b_only["id"], str(uuid.uuid4())), (b2b_only["slug"], gateway.unique("no-such-pallet"))):
        hidden = gateway.problem(await gateway.http.get(f"/v1/products/{key}", headers=customer), 404, "NOT_FOUND")
        absent = gateway.problem(await gateway.http.get(f"/v1/products/{missing}", headers=customer), 404, "NOT_FOUND")
        assert same_but_key(hidden, key) == same_but_key(absent, missing)
        metadata = (("authorization", customer["Authorization"]),)
        errors = []
        for wanted in (key, missing):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await gateway.grpc.GetProduct(storefront_pb2.GetProductRequest(id=wanted), metadata=metadata)
            errors.append(parse_rpc_error(caught.value))
        assert (errors[0].code, errors[0].reason) == (errors[1].code, errors[1].reason)
        assert errors[0].message == errors[1].message.replace(missing, key)


async def test_web_products_are_hidden_from_b2b_callers_and_drafts_from_every_shopper(gateway: Client) -> None:
    web_only = await seed(gateway, ["web"])
    assert await http_statuses(gateway, web_only, await callers(gateway, B2B_ROLES)) == [404] * 4
    assert await http_statuses(gateway, web_only, [{}]) == [200] * 2
    draft = await seed(gateway, ["web", "mobile", "b2b"], status="draft")
    shoppers = [{}, *await callers(gateway, (*WEB_ROLES, *B2B_ROLES))]
    assert await http_statuses(gateway, draft, shoppers) == [404] * 10
    assert await grpc_codes(gateway, draft, shoppers) == [grpc.StatusCode.NOT_FOUND] * 10
    assert await http_statuses(gateway, draft, await callers(gateway, ("admin",))) == [200] * 2


async def test_the_public_cache_neither_keeps_nor_serves_a_b2b_only_product(make_gateway: GatewayFactory) -> None:
    async with make_gateway(public_cache_seconds=60) as client:
        product = await seed(client, ["b2b"])
        buyer = (await callers(client, ("b2b_buyer",)))[0]
        for key in (product["id"], product["slug"]):
            path = f"/v1/products/{key}"
            # A b2b caller's answer is not stored for anonymous callers...
            seen = await client.http.get(path, headers=buyer)
            assert seen.status_code == 200 and "etag" not in seen.headers, seen.headers
            assert "public" not in seen.headers.get("cache-control", "")
            assert (await client.http.get(path)).status_code == 404
            # ...and an anonymous refusal is neither kept nor served to the b2b caller.
            assert (await client.http.get(path)).status_code == 404
            assert (await client.http.get(path, headers=buyer)).status_code == 200


async def test_a_b2b_caller_is_never_answered_from_the_anonymous_cache(make_gateway: GatewayFactory) -> None:
    async with make_gateway(public_cache_seconds=60) as client:
        everywhere = await seed(client, ["web", "b2b"])
        path = f"/v1/products/{everywhere['id']}"
        public = await client.http.get(path)
        assert public.status_code == 200 and public.headers["cache-control"] == "public, max-age=60"
        assert (await client.http.get(path)).headers["etag"] == public.headers["etag"]  # kept
        buyer = (await callers(client, ("b2b_buyer",)))[0]
        seen = await client.http.get(path, headers=buyer)
        assert seen.status_code == 200 and "etag" not in seen.headers, seen.headers
