"""The search projection over real JetStream: pricing's base prices and inventory's stock levels kept
per product by catalog's consumers (once per message, a late older event changing nothing), the
price and stock filters they answer, and facets counted over a known catalog."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop_catalog import events, store
from shopkit import events as kit_events
from shopkit.consumer import EventConsumer
from shopkit.errors import parse_rpc_error
from shopkit.testing import eventually

PRICE_ASC = catalog_pb2.PRODUCT_SORT_PRICE_ASC


async def slugs(catalog: Any, category_id: str, **fields: Any) -> list[str]:
    request = catalog_pb2.ListProductsRequest(category_id=category_id, **fields)
    response = await catalog.stub.ListProducts(request)
    return [p.slug for p in response.products]


async def until(catalog: Any, category_id: str, expected: list[str], **fields: Any) -> None:
    async def seen() -> bool:
        return await slugs(catalog, category_id, **fields) == expected

    try:
        await eventually(seen, within=catalog.WITHIN)
    except AssertionError:
        raise AssertionError(f"listed {await slugs(catalog, category_id, **fields)}, not {expected}") from None


def eur(**fields: Any) -> catalog_pb2.ProductFilters:
    return catalog_pb2.ProductFilters(currency="EUR", **fields)


async def test_projection_follows_price_and_stock_events_once(catalog: Any, js: JetStreamContext) -> None:
    category = await catalog.category(catalog.unique("lamps"))
    a, b, c = catalog.unique("a-lamp"), catalog.unique("b-lamp"), catalog.unique("c-lamp")
    a1, a2, b1, c1 = (catalog.unique(s).upper() for s in ("A1", "A2", "B1", "C1"))
    first = await catalog.create(catalog.product(a, category.id, [a1, a2]))
    await catalog.create(catalog.product(b, category.id, [b1]))
    untracked = catalog.product(c, category.id, [c1])
    untracked.variants[0].track_inventory = False  # always in stock: inventory sends nothing for it
    await catalog.create(untracked)

    await catalog.publish_price(js, a1, 1500)
    await catalog.publish_price(js, a2, 1200)
    await catalog.publish_price(js, b1, 3000)
    await catalog.publish_price(js, c1, 500, "USD")
    await catalog.publish_stock(js, a1, 0)
    await catalog.publish_stock(js, a2, 4)
    await catalog.publish_stock(js, b1, 0)
    # The lowest variant price is the product's; a product without a EUR price sorts last.
    await until(catalog, category.id, [a, b, c], filters=eur(), sort=PRICE_ASC)
    await until(catalog, category.id, [a, c], filters=catalog_pb2.ProductFilters(in_stock_only=True))
    assert await slugs(catalog, category.id, filters=eur(min_price=1300)) == [b]
    assert await slugs(catalog, category.id, filters=eur(min_price=1200, max_price=1200)) == [a]
    assert await slugs(catalog, category.id, filters=eur(max_price=99)) == []
    desc = catalog_pb2.PRODUCT_SORT_PRICE_DESC
    assert await slugs(catalog, category.id, filters=eur(), sort=desc) == [b, a, c]

    # A redelivered message finds its id in the inbox; an older price arriving late changes nothing.
    message_id = str(uuid.uuid4())
    ack = await catalog.publish_price(js, b1, 2500, message_id=message_id)
    await until(catalog, category.id, [a, b], filters=eur(max_price=2500))
    redelivery = await js.pull_subscribe(
        events.PRICE_CHANGED,
        stream=kit_events.stream_name("pricing"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=ack.seq),
    )
    [msg] = await redelivery.fetch(1, timeout=5)
    same_consumer = EventConsumer(
        catalog.runtime.db,
        catalog.runtime.js,
        store.inbox,
        service="catalog",
        name=events.PRICES_CONSUMER,
        source_service="pricing",
        subjects=[events.PRICE_CHANGED],
        handler=events.handle_price_changed,
    )
    assert await same_consumer.handle(msg) == "duplicate"
    await redelivery.unsubscribe()
    await catalog.publish_price(js, a2, 100, audit_id=1)  # an old audit entry: a2 stays at 1200
    await catalog.publish_price(js, b1, 2600)  # then a newer one: once seen, the old one was applied too
    await until(catalog, category.id, [a, b], filters=eur(max_price=2600))
    assert await slugs(catalog, category.id, filters=eur(max_price=1199)) == []

    # Stock coming back puts a product in stock; a product's variants changing refreshes its row.
    await catalog.publish_stock(js, b1, 7)
    await until(catalog, category.id, [a, b, c], filters=catalog_pb2.ProductFilters(in_stock_only=True))
    update = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=first.id, variants=[catalog_pb2.Variant(sku=a1)]),
        update_mask=field_mask_pb2.FieldMask(paths=["variants"]),
        expected_version=first.version,
    )
    await catalog.stub.UpdateProduct(update, metadata=catalog.ADMIN)
    assert await slugs(catalog, category.id, filters=eur(), sort=PRICE_ASC) == [a, b, c]
    assert await slugs(catalog, category.id, filters=eur(min_price=1500, max_price=1500)) == [a]
    assert await slugs(catalog, category.id, filters=catalog_pb2.ProductFilters(in_stock_only=True)) == [b, c]

    # A price set before its product exists is found when the product is created.
    d, d1 = catalog.unique("d-lamp"), catalog.unique("D1").upper()
    await catalog.publish_price(js, d1, 50)
    await catalog.publish_stock(js, d1, 1)

    async def stored() -> bool:
        async with catalog.runtime.db.connect() as conn:
            found = await conn.scalar(sa.text("SELECT count(*) FROM sku_stock WHERE sku = :sku"), {"sku": d1})
            return bool(found)

    await eventually(stored, within=catalog.WITHIN)
    await catalog.create(catalog.product(d, category.id, [d1]))
    assert await slugs(catalog, category.id, filters=eur(max_price=50, in_stock_only=True)) == [d]


async def test_facets_count_the_whole_filtered_result(catalog: Any, js: JetStreamContext) -> None:
    root = await catalog.category(catalog.unique("garden"))
    tools = await catalog.category(catalog.unique("tools"), root.id)
    seeds = await catalog.category(catalog.unique("seeds"), root.id)
    rows = [  # (category, brand, color, price, stock)
        (tools, "Acme", "red", 1000, 1),
        (tools, "Acme", "blue", 2000, 0),
        (tools, "Bolt", "red", 3000, 5),
        (seeds, "Acme", "green", 400, 2),
        (seeds, "Seedy", "green", None, 0),
    ]
    skus = []
    for index, (category, brand, color, price, stock) in enumerate(rows):
        sku = catalog.unique(f"G{index}").upper()
        skus.append(sku)
        product = catalog.product(
            catalog.unique(f"item-{index}"), category.id, [sku], brand=brand, attributes={"color": color}
        )
        await catalog.create(product)
        if price is not None:
            await catalog.publish_price(js, sku, price)
        await catalog.publish_stock(js, sku, stock)

    async def settled() -> bool:
        priced = await slugs(catalog, root.id, filters=eur(min_price=0))
        in_stock = await slugs(catalog, root.id, filters=catalog_pb2.ProductFilters(in_stock_only=True))
        return (len(priced), len(in_stock)) == (4, 3)

    await eventually(settled, within=catalog.WITHIN)
    asked = catalog_pb2.FacetsRequest(attribute_keys=["brand", "color", "size"], max_values=2, price_buckets=2)
    response = await catalog.stub.ListProducts(
        catalog_pb2.ListProductsRequest(
            category_id=root.id, filters=eur(), facets=asked, page=common_pb2.PageRequest(page_size=1)
        )
    )
    assert len(response.products) == 1  # the page is one product; the facets count all five
    facets = response.facets
    assert facets.total == 5
    assert [(c.path, c.count) for c in facets.categories] == sorted([(root.path, 5), (tools.path, 3), (seeds.path, 2)])
    by_key = {f.key: [(v.value, v.count) for v in f.values] for f in facets.attributes}
    assert [f.key for f in facets.attributes] == ["brand", "color", "size"]
    assert by_key == {"brand": [("acme", 3), ("bolt", 1)], "color": [("green", 2), ("red", 2)], "size": []}
    price = facets.price
    assert (price.currency, price.min_amount, price.max_amount, price.priced) == ("EUR", 400, 3000, 4)
    # Two buckets over [400, 3001): 400-1700 and 1701-3000.
    assert [(b.min_amount, b.max_amount, b.count) for b in price.buckets] == [(400, 1700, 2), (1701, 3000, 2)]
    assert (facets.in_stock, facets.out_of_stock) == (3, 2)

    # Over a filtered result: in stock, red.
    filtered = await catalog.stub.ListProducts(
        catalog_pb2.ListProductsRequest(
            category_id=root.id,
            filters=eur(in_stock_only=True),
            attributes=[catalog_pb2.AttributeFilter(key="color", value="red")],
            facets=catalog_pb2.FacetsRequest(attribute_keys=["brand"]),
        )
    )
    assert filtered.facets.total == 2 and (filtered.facets.in_stock, filtered.facets.out_of_stock) == (2, 0)
    assert [(v.value, v.count) for v in filtered.facets.attributes[0].values] == [("acme", 1), ("bolt", 1)]
    assert [(c.path, c.count) for c in filtered.facets.categories] == [(root.path, 2), (tools.path, 2)]

    # Search answers facets too; without the opt-in there are none.
    found = await catalog.stub.SearchProducts(
        catalog_pb2.SearchProductsRequest(query="item", category_id=root.id, facets=catalog_pb2.FacetsRequest())
    )
    assert found.facets.total == 5 and not found.facets.HasField("price")
    plain = await catalog.stub.ListProducts(catalog_pb2.ListProductsRequest(category_id=root.id))
    assert not plain.HasField("facets")


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        ({"filters": catalog_pb2.ProductFilters(min_price=10)}, "filters.currency"),
        ({"filters": catalog_pb2.ProductFilters(currency="euro")}, "filters.currency"),
        ({"filters": eur(min_price=-1)}, "filters.min_price"),
        ({"filters": eur(min_price=10, max_price=5)}, "filters.max_price"),
        ({"sort": catalog_pb2.PRODUCT_SORT_PRICE_ASC}, "filters.currency"),
        ({"sort": catalog_pb2.PRODUCT_SORT_RELEVANCE}, "sort"),
        ({"sort": 99}, "sort"),
        ({"facets": catalog_pb2.FacetsRequest(attribute_keys=[str(i) for i in range(11)])}, "facets.attribute_keys"),
        ({"facets": catalog_pb2.FacetsRequest(max_values=51)}, "facets.max_values"),
        ({"facets": catalog_pb2.FacetsRequest(price_buckets=21)}, "facets.price_buckets"),
    ],
)
async def test_bad_filters_sorts_and_facets_are_refused(catalog: Any, fields: dict[str, Any], violation: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.ListProducts(catalog_pb2.ListProductsRequest(**fields))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violation in {v.field for v in parse_rpc_error(raised.value).violations}


async def test_only_stock_events_that_change_availability_rewrite_the_product(
    catalog: Any, js: JetStreamContext
) -> None:
    category = await catalog.category(catalog.unique("mugs"))
    slug, sku = catalog.unique("mug"), catalog.unique("M1").upper()
    product = await catalog.create(catalog.product(slug, category.id, [sku]))
    in_stock = catalog_pb2.ProductFilters(in_stock_only=True)

    async def stock_row() -> tuple[int, str]:
        """The SKU's stored total, and the transactions that last wrote the product's rows (a refresh
        rewrites its prices)."""
        async with catalog.runtime.db.connect() as conn:
            total = await conn.scalar(sa.text("SELECT total_available FROM sku_stock WHERE sku = :s"), {"s": sku})
            writers = await conn.scalar(
                sa.text(
                    "SELECT string_agg(xmin::text, ',') FROM (SELECT xmin FROM product_prices WHERE product_id = :p"
                    " UNION ALL SELECT xmin FROM product_stock WHERE product_id = :p) AS rows"
                ),
                {"p": uuid.UUID(product.id)},
            )
            return total, writers

    async def stored(total: int) -> None:
        async def seen() -> bool:
            return (await stock_row())[0] == total

        await eventually(seen, within=catalog.WITHIN)

    await catalog.publish_price(js, sku, 900)
    await catalog.publish_stock(js, sku, 5)
    await until(catalog, category.id, [slug], filters=eur(in_stock_only=True))
    _, writer = await stock_row()
    for total in (4, 3, 1):  # reservations and sales that leave units on the shelf
        await catalog.publish_stock(js, sku, total)
        await stored(total)
    assert await stock_row() == (1, writer)  # the product's rows untouched
    await catalog.publish_stock(js, sku, 0)  # the last unit: out of stock
    await until(catalog, category.id, [], filters=in_stock)
    await catalog.publish_stock(js, sku, 2)  # a restock: in stock again
    await until(catalog, category.id, [slug], filters=in_stock)
