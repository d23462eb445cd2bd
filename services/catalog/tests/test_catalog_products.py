"""Product writes and reads over a real gRPC channel: lifecycle, validation, concurrency, permissions,
batch lookups and events on NATS."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.catalog.v1 import catalog_pb2, events_pb2
from shopkit import events
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error


async def rpc_error(call: Any) -> RpcErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return parse_rpc_error(caught.value)


@pytest.fixture
async def shelf(catalog: Any) -> catalog_pb2.Category:
    category: catalog_pb2.Category = await catalog.category(catalog.unique("shelf"))
    return category


async def test_create_get_update_discontinue(catalog: Any, shelf: catalog_pb2.Category) -> None:
    stub = catalog.stub
    slug, sku = catalog.unique("trail-shoe"), catalog.unique("TS").upper()
    created = await catalog.create(
        catalog.product(slug, shelf.id, [f"{sku}-41", f"{sku}-42"], brand="Kestrel", attributes={"material": "mesh"})
    )
    assert created.version == 1 and uuid.UUID(created.id)
    assert created.status == catalog_pb2.PRODUCT_STATUS_ACTIVE
    assert created.category_slug == shelf.slug and created.category_path == shelf.path
    assert [v.sku for v in created.variants] == [f"{sku}-41", f"{sku}-42"]
    assert created.variants[0].title == created.name  # defaulted from the product name
    assert created.variants[0].track_inventory and not created.variants[0].allow_preorder
    assert await stub.GetProduct(catalog_pb2.GetProductRequest(id=created.id)) == created
    assert await stub.GetProduct(catalog_pb2.GetProductRequest(slug=slug)) == created

    change = catalog_pb2.Product(
        id=created.id,
        name="Trail Shoe II",
        variants=[
            catalog_pb2.Variant(sku=f"{sku}-42", title="EU 42", weight_grams=310, allow_preorder=True),
            catalog_pb2.Variant(
                sku=f"{sku}-43",
                title="EU 43",
                track_inventory=False,
                dimensions=catalog_pb2.Dimensions(length_mm=320, width_mm=200, height_mm=120),
            ),
        ],
    )
    updated = await stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=change, update_mask=FieldMask(paths=["name", "variants"]), expected_version=1
        ),
        metadata=catalog.ADMIN,
    )
    assert updated.version == 2 and updated.name == "Trail Shoe II"
    assert updated.brand == "Kestrel" and dict(updated.attributes) == {"material": "mesh"}  # outside the mask
    assert [(v.sku, v.title) for v in updated.variants] == [(f"{sku}-42", "EU 42"), (f"{sku}-43", "EU 43")]
    assert updated.variants[0].weight_grams == 310 and updated.variants[0].allow_preorder
    assert not updated.variants[1].track_inventory and updated.variants[1].dimensions.height_mm == 120
    assert await stub.GetProduct(catalog_pb2.GetProductRequest(id=created.id)) == updated

    discontinued = await stub.DiscontinueProduct(
        catalog_pb2.DiscontinueProductRequest(id=created.id), metadata=catalog.ADMIN
    )
    assert discontinued.status == catalog_pb2.PRODUCT_STATUS_DISCONTINUED and discontinued.version == 3
    assert discontinued.HasField("discontinued_at")
    again = await stub.DiscontinueProduct(catalog_pb2.DiscontinueProductRequest(id=created.id), metadata=catalog.ADMIN)
    assert again == discontinued  # safe to repeat

    reactivate = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=created.id, status=catalog_pb2.PRODUCT_STATUS_ACTIVE),
        update_mask=FieldMask(paths=["status"]),
        expected_version=3,
    )
    error = await rpc_error(stub.UpdateProduct(reactivate, metadata=catalog.ADMIN))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "PRODUCT_DISCONTINUED"


async def test_create_with_a_request_id_is_safe_to_repeat(catalog: Any, shelf: catalog_pb2.Category) -> None:
    product = catalog.product(catalog.unique("lamp"), shelf.id, [catalog.unique("LAMP")])
    request_id = str(uuid.uuid4())
    first, second = await asyncio.gather(catalog.create(product, request_id), catalog.create(product, request_id))
    assert first.id == second.id
    error = await rpc_error(catalog.create(product))  # same slug without the key: a real duplicate
    assert error.code == grpc.StatusCode.ALREADY_EXISTS


async def test_stale_version_is_aborted_and_concurrent_updates_serialise(
    catalog: Any, shelf: catalog_pb2.Category
) -> None:
    stub = catalog.stub
    created = await catalog.create(catalog.product(catalog.unique("kettle"), shelf.id, [catalog.unique("KET")]))

    def rename(name: str, version: int) -> catalog_pb2.UpdateProductRequest:
        return catalog_pb2.UpdateProductRequest(
            product=catalog_pb2.Product(id=created.id, name=name),
            update_mask=FieldMask(paths=["name"]),
            expected_version=version,
        )

    outcomes = await asyncio.gather(
        *(stub.UpdateProduct(rename(f"Kettle {i}", 1), metadata=catalog.ADMIN) for i in range(4)),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, catalog_pb2.Product)]
    losers = [parse_rpc_error(o) for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and winners[0].version == 2
    assert len(losers) == 3 and {e.code for e in losers} == {grpc.StatusCode.ABORTED}
    assert {e.reason for e in losers} == {"VERSION_MISMATCH"} and losers[0].metadata["current_version"] == "2"

    error = await rpc_error(stub.UpdateProduct(rename("Stale", 1), metadata=catalog.ADMIN))
    assert error.code == grpc.StatusCode.ABORTED
    current = await stub.GetProduct(catalog_pb2.GetProductRequest(id=created.id))
    assert current.name == winners[0].name and current.version == 2


async def test_invalid_create_reports_every_violation_and_writes_nothing(
    catalog: Any, shelf: catalog_pb2.Category
) -> None:
    stub = catalog.stub
    sku = catalog.unique("BAD")
    bad = catalog.product("Not A Slug", shelf.id, [sku, sku, "-nope"], name=" ", attributes={"Bad Key": "x"})
    bad.variants[0].weight_grams = -5
    bad.channels.append(99)
    error = await rpc_error(stub.CreateProduct(catalog_pb2.CreateProductRequest(product=bad), metadata=catalog.ADMIN))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in error.violations}
    assert {
        "product.name",
        "product.slug",
        "product.variants[1].sku",
        "product.variants[2].sku",
        "product.variants[0].weight_grams",
        "product.attributes['Bad Key']",
        "product.channels[4]",
    } <= fields
    assert any("duplicate" in v.description for v in error.violations if v.field == "product.variants[1].sku")

    unknown = catalog.product(catalog.unique("orphan"), str(uuid.uuid4()), [catalog.unique("ORPH")])
    error = await rpc_error(
        stub.CreateProduct(catalog_pb2.CreateProductRequest(product=unknown), metadata=catalog.ADMIN)
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["product.category_id"]

    found = await stub.BatchGetVariants(catalog_pb2.BatchGetVariantsRequest(skus=[sku, unknown.variants[0].sku]))
    assert not found.variants and len(found.missing_skus) == 2
    listed = await stub.ListProducts(catalog_pb2.ListProductsRequest(category_id=shelf.id))
    assert not listed.products


async def test_invalid_update_changes_nothing(catalog: Any, shelf: catalog_pb2.Category) -> None:
    stub = catalog.stub
    created = await catalog.create(catalog.product(catalog.unique("mug"), shelf.id, [catalog.unique("MUG")]))
    requests = [
        (catalog_pb2.Product(id=created.id, name=""), ["name"], "product.name"),
        (catalog_pb2.Product(id=created.id), ["id"], "update_mask"),
        (catalog_pb2.Product(id=created.id), [], "update_mask"),
        (
            catalog_pb2.Product(id=created.id, category_slug="no-such-category"),
            ["category_slug"],
            "product.category_slug",
        ),
        (catalog_pb2.Product(id=created.id, variants=[]), ["variants"], "product.variants"),
        (
            catalog_pb2.Product(id=created.id, status=catalog_pb2.PRODUCT_STATUS_DISCONTINUED),
            ["status"],
            "product.status",
        ),
    ]
    for product, paths, field in requests:
        request = catalog_pb2.UpdateProductRequest(
            product=product, update_mask=FieldMask(paths=paths), expected_version=1
        )
        error = await rpc_error(stub.UpdateProduct(request, metadata=catalog.ADMIN))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in {v.field for v in error.violations}
    assert await stub.GetProduct(catalog_pb2.GetProductRequest(id=created.id)) == created

    unchanged = await stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=catalog_pb2.Product(id=created.id, name=created.name),
            update_mask=FieldMask(paths=["name"]),
            expected_version=1,
        ),
        metadata=catalog.ADMIN,
    )
    assert unchanged == created  # nothing to change: no new version


async def test_unknown_products_are_not_found_and_bad_ids_invalid(catalog: Any) -> None:
    stub = catalog.stub
    missing = str(uuid.uuid4())
    for call in (
        stub.GetProduct(catalog_pb2.GetProductRequest(id=missing)),
        stub.GetProduct(catalog_pb2.GetProductRequest(slug="no-such-product")),
        stub.DiscontinueProduct(catalog_pb2.DiscontinueProductRequest(id=missing), metadata=catalog.ADMIN),
        stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(id=missing, name="x"),
                update_mask=FieldMask(paths=["name"]),
                expected_version=1,
            ),
            metadata=catalog.ADMIN,
        ),
    ):
        assert (await rpc_error(call)).code == grpc.StatusCode.NOT_FOUND
    error = await rpc_error(stub.GetProduct(catalog_pb2.GetProductRequest(id="not-a-uuid")))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "id"
    error = await rpc_error(stub.GetProduct(catalog_pb2.GetProductRequest()))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_writes_require_admin_or_service_role(catalog: Any, shelf: catalog_pb2.Category) -> None:
    stub = catalog.stub
    product = catalog.product(catalog.unique("sofa"), shelf.id, [catalog.unique("SOFA")])
    create = catalog_pb2.CreateProductRequest(product=product)
    for metadata in (catalog.CUSTOMER, metadata_for("b2b_buyer"), ()):
        for call in (
            stub.CreateProduct(create, metadata=metadata),
            stub.UpdateProduct(catalog_pb2.UpdateProductRequest(), metadata=metadata),
            stub.DiscontinueProduct(catalog_pb2.DiscontinueProductRequest(id=str(uuid.uuid4())), metadata=metadata),
            stub.CreateCategory(
                catalog_pb2.CreateCategoryRequest(category=catalog_pb2.Category(slug="x", name="x")), metadata=metadata
            ),
            stub.ImportProducts(iter([catalog_pb2.ImportProductsRequest(lines=["{}"])]), metadata=metadata),
        ):
            error = await rpc_error(call)
            assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_REQUIRED"
    # Reads need no admin role: a customer gets NOT_FOUND here, not PERMISSION_DENIED.
    error = await rpc_error(
        stub.GetProduct(catalog_pb2.GetProductRequest(slug=product.slug), metadata=catalog.CUSTOMER)
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    created = await stub.CreateProduct(create, metadata=catalog.SERVICE)
    assert created.slug == product.slug


async def test_taken_sku_and_slug_are_already_exists(catalog: Any, shelf: catalog_pb2.Category) -> None:
    sku = catalog.unique("DESK")
    first = await catalog.create(catalog.product(catalog.unique("desk"), shelf.id, [sku]))
    error = await rpc_error(catalog.create(catalog.product(catalog.unique("desk"), shelf.id, [sku])))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "SKU_TAKEN"
    assert error.metadata == {"sku": sku, "product": first.slug}
    other = await catalog.create(catalog.product(catalog.unique("desk"), shelf.id, [catalog.unique("DESK")]))
    steal = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=other.id, slug=first.slug),
        update_mask=FieldMask(paths=["slug"]),
        expected_version=1,
    )
    error = await rpc_error(catalog.stub.UpdateProduct(steal, metadata=catalog.ADMIN))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "SLUG_TAKEN"


async def test_batch_get_variants_reports_missing_skus(catalog: Any, shelf: catalog_pb2.Category) -> None:
    sku = catalog.unique("CAM")
    product = catalog.product(
        catalog.unique("camera"),
        shelf.id,
        [f"{sku}-B", f"{sku}-S"],
        channels=[catalog_pb2.CHANNEL_WEB],
        status=catalog_pb2.PRODUCT_STATUS_DRAFT,
    )
    product.variants[1].allow_preorder = True
    created = await catalog.create(product)
    response = await catalog.stub.BatchGetVariants(
        catalog_pb2.BatchGetVariantsRequest(skus=[f"{sku}-S", "NOPE-1", f"{sku}-B", f"{sku}-S", "nope 2"])
    )
    assert [v.variant.sku for v in response.variants] == [f"{sku}-S", f"{sku}-B"]
    assert list(response.missing_skus) == ["NOPE-1", "nope 2"]
    view = response.variants[0]
    assert view.product_id == created.id and view.product_slug == created.slug and view.product_name == created.name
    assert view.product_status == catalog_pb2.PRODUCT_STATUS_DRAFT and list(view.channels) == [catalog_pb2.CHANNEL_WEB]
    assert view.variant.allow_preorder and view.variant.track_inventory and view.category_id == shelf.id
    too_many = catalog_pb2.BatchGetVariantsRequest(skus=[f"S{i}" for i in range(501)])
    assert (await rpc_error(catalog.stub.BatchGetVariants(too_many))).code == grpc.StatusCode.INVALID_ARGUMENT


async def test_product_events_reach_nats(catalog: Any, shelf: catalog_pb2.Category) -> None:
    js = catalog.runtime.js
    durable = catalog.unique("catalog-test")
    subscription = await js.pull_subscribe(
        "shop.catalog.>",
        durable=durable,
        stream=events.stream_name("catalog"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    sku = catalog.unique("EVT")
    created = await catalog.create(catalog.product(catalog.unique("evt"), shelf.id, [f"{sku}-1", f"{sku}-2"]))
    await catalog.stub.DiscontinueProduct(catalog_pb2.DiscontinueProductRequest(id=created.id), metadata=catalog.ADMIN)

    received: dict[str, bytes] = {}
    async with asyncio.timeout(10):
        while len(received) < 2:
            for msg in await subscription.fetch(10, timeout=5):
                await msg.ack()
                if created.id.encode() in msg.data:
                    received[msg.subject] = msg.data
    payload = events_pb2.ProductCreated.FromString(received["shop.catalog.product_created"])
    assert payload.product_id == created.id and list(payload.skus) == [f"{sku}-1", f"{sku}-2"]
    assert payload.meta.aggregate_id == created.id and payload.meta.event_id and payload.version == 1
    assert [v.track_inventory for v in payload.variants] == [True, True]
    gone = events_pb2.ProductDiscontinued.FromString(received["shop.catalog.product_discontinued"])
    assert gone.product_id == created.id and list(gone.skus) == [f"{sku}-1", f"{sku}-2"] and gone.version == 2
    await js.delete_consumer(events.stream_name("catalog"), durable)
