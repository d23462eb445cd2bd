"""The public read cache: anonymous browse answers are served from memory for a short time, with
validators; signed-in callers (B2B contract prices) never get or leave an answer there."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_gateway.public_cache import PublicCache
from shopkit.auth import metadata_for
from shopkit.testing import grpc_address

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

ADMIN = metadata_for("admin")


def price_of(page: dict[str, Any], sku: str) -> int:
    amount: int = next(v["price"]["amount"] for v in page["variants"] if v["sku"] == sku)
    return amount


async def set_base_price_behind_the_gateway(client: Client, sku: str, amount: int) -> None:
    """A price change the gateway does not see (as from another replica or a back-office tool)."""
    async with grpc.aio.insecure_channel(grpc_address(client.backends.runtimes["pricing"])) as channel:
        stub = pricing_pb2_grpc.PricingServiceStub(channel)  # type: ignore[no-untyped-call]
        price = common_pb2.Money(amount=amount, currency="USD")
        request = pricing_pb2.SetBasePricesRequest(prices=[pricing_pb2.BasePrice(sku=sku, price=price)])
        await stub.SetBasePrices(request, metadata=ADMIN)


async def test_anonymous_product_page_is_served_from_the_cache_with_validators(make_gateway: GatewayFactory) -> None:
    async with make_gateway(public_cache_seconds=60) as client:
        seeded = await client.seed_product(prices=(1000,), stock=(3,))
        path = f"/v1/products/{seeded.product_id}"
        first = await client.http.get(path)
        assert first.status_code == 200, first.text
        assert first.headers["cache-control"] == "public, max-age=60"
        assert first.headers["vary"] == "Authorization"
        etag = first.headers["etag"]
        await set_base_price_behind_the_gateway(client, seeded.skus[0], 1500)

        again = await client.http.get(path)
        assert again.status_code == 200 and again.headers["etag"] == etag
        assert again.json() == first.json() and price_of(again.json(), seeded.skus[0]) == 1000  # from memory
        assert again.headers["content-type"] == "application/json"
        unchanged = await client.http.get(path, headers={"If-None-Match": f'W/{etag}, "other"'})
        assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == etag

        # A write through the gateway drops what it may have changed.
        admin = await client.auth("admin")
        body = {"prices": [{"sku": seeded.skus[0], "price": {"amount": 1700, "currency": "USD"}}]}
        assert (await client.http.put("/v1/prices", json=body, headers=admin)).status_code == 200
        fresh = await client.http.get(path)
        assert price_of(fresh.json(), seeded.skus[0]) == 1700 and fresh.headers["etag"] != etag
        changed = await client.http.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200


async def test_cached_answers_expire_after_the_ttl(make_gateway: GatewayFactory) -> None:
    async with make_gateway(public_cache_seconds=0.5) as client:
        seeded = await client.seed_product(prices=(1000,), stock=(3,))
        path = f"/v1/products/{seeded.product_id}"
        assert price_of((await client.http.get(path)).json(), seeded.skus[0]) == 1000
        await set_base_price_behind_the_gateway(client, seeded.skus[0], 1200)
        await asyncio.sleep(0.6)
        assert price_of((await client.http.get(path)).json(), seeded.skus[0]) == 1200


async def test_b2b_contract_prices_never_enter_nor_come_from_the_cache(make_gateway: GatewayFactory) -> None:
    async with make_gateway(public_cache_seconds=60) as client:
        seeded = await client.seed_product(prices=(1000,), stock=(3,))
        sku, account = seeded.skus[0], client.unique("acme")
        async with grpc.aio.insecure_channel(grpc_address(client.backends.runtimes["pricing"])) as channel:
            stub = pricing_pb2_grpc.PricingServiceStub(channel)  # type: ignore[no-untyped-call]
            contract = pricing_pb2.PriceList(
                id=client.unique("contract"),
                name="Contract",
                kind=pricing_pb2.PRICE_LIST_KIND_OVERRIDE,
                scope=pricing_pb2.PriceListScope(account_id=account),
                active=True,
            )
            tier = pricing_pb2.PriceTier(min_quantity=1, unit_price=common_pb2.Money(amount=700, currency="USD"))
            entry = pricing_pb2.PriceListEntry(sku=sku, tiers=[tier])
            await stub.CreatePriceList(
                pricing_pb2.CreatePriceListRequest(price_list=contract, entries=[entry]), metadata=ADMIN
            )
        buyer = await client.auth("b2b_buyer", account_id=account)
        path = f"/v1/products/{seeded.product_id}"
        listing = ("/v1/products", {"category": seeded.category_slug})

        # The buyer first: their answer must not be kept for the anonymous caller after them.
        personal = await client.http.get(path, headers=buyer)
        assert price_of(personal.json(), sku) == 700 and "public" not in personal.headers.get("cache-control", "")
        personal_list = await client.http.get(listing[0], params=listing[1], headers=buyer)
        assert price_of(personal_list.json()["products"][0], sku) == 700
        anonymous = await client.http.get(path)
        assert price_of(anonymous.json(), sku) == 1000 and anonymous.headers["cache-control"].startswith("public")
        assert price_of((await client.http.get(listing[0], params=listing[1])).json()["products"][0], sku) == 1000

        # And the cached anonymous answers are not what the buyer gets.
        assert price_of((await client.http.get(path, headers=buyer)).json(), sku) == 700
        again = await client.http.get(listing[0], params=listing[1], headers=buyer)
        assert price_of(again.json()["products"][0], sku) == 700


async def test_red_metrics_and_rate_limits_apply_to_cached_answers(make_gateway: GatewayFactory) -> None:
    limits = {"public_cache_seconds": 60, "anonymous_rate_limit_per_second": 0.5, "anonymous_rate_limit_burst": 3}
    async with make_gateway(**limits) as client:
        statuses = [(await client.http.get("/v1/categories")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # the second and third came from memory


async def test_failures_are_not_cached(gateway: Client) -> None:
    draft = await gateway.seed_product(status="draft")
    path = f"/v1/products/{draft.product_id}"
    assert (await gateway.http.get(path)).status_code == 404
    admin = await gateway.auth("admin")
    assert (await gateway.http.get(path, headers=admin)).status_code == 200
    missing = await gateway.http.get(path)
    assert missing.status_code == 404 and "cache-control" not in missing.headers


def test_the_cache_is_bounded_and_entries_expire() -> None:
    now = [0.0]
    cache = PublicCache(ttl_seconds=1.0, max_entries=2, max_body_bytes=10, clock=lambda: now[0])
    for key in (b"a", b"b", b"c"):
        assert cache.put(key, cache.answer(b"{}", b"application/json"), cache.generation)
    assert cache.get(b"a") is None and len(cache) == 2  # the least recently used went first
    assert not cache.put(b"big", cache.answer(b"x" * 11, b"application/json"), cache.generation)
    generation = cache.generation
    cache.purge()
    assert len(cache) == 0
    assert not cache.put(b"b", cache.answer(b"{}", b"application/json"), generation)  # computed before the purge
    assert cache.put(b"b", cache.answer(b"{}", b"application/json"), cache.generation)
    now[0] = 0.99
    assert cache.get(b"b") is not None
    now[0] = 1.0
    assert cache.get(b"b") is None and len(cache) == 0
