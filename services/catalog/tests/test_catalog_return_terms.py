"""Return terms of products: the window and whether they may come back, written like any field and read
by order through BatchGetVariants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import field_mask_pb2

from shop.catalog.v1 import catalog_pb2
from shop_catalog import demo, domain
from shop_catalog.domain import ProductSpec

if TYPE_CHECKING:
    from conftest import Catalog


async def test_terms_default_round_trip_and_reach_batch_get_variants(catalog: Catalog) -> None:
    category = await catalog.category(catalog.unique("terms"))
    plain = await catalog.create(catalog.product(catalog.unique("plain"), category.id, [catalog.unique("PL")]))
    assert (plain.return_window_days, plain.returnable) == (30, True)
    product = catalog.product(catalog.unique("earbuds"), category.id, [catalog.unique("EB")])
    product.returnable = False
    product.return_window_days = 14
    created = await catalog.create(product)
    assert (created.return_window_days, created.returnable) == (14, False)
    views = await catalog.stub.BatchGetVariants(
        catalog_pb2.BatchGetVariantsRequest(skus=[created.variants[0].sku, plain.variants[0].sku]),
        metadata=catalog.SERVICE,
    )
    assert [(v.return_window_days, v.returnable) for v in views.variants] == [(14, False), (30, True)]
    changed = catalog_pb2.Product(id=created.id, returnable=True, return_window_days=60)
    updated = await catalog.stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=changed,
            update_mask=field_mask_pb2.FieldMask(paths=["returnable", "return_window_days"]),
            expected_version=created.version,
        ),
        metadata=catalog.ADMIN,
    )
    assert (updated.return_window_days, updated.returnable, updated.version) == (60, True, created.version + 1)


async def test_a_window_beyond_a_year_is_refused(catalog: Catalog) -> None:
    category = await catalog.category(catalog.unique("terms"))
    product = catalog.product(catalog.unique("forever"), category.id, [catalog.unique("FE")])
    product.return_window_days = 366
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalog.create(product)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "return_window_days" in (refused.value.details() or "")


def test_default_terms_leave_the_content_digest_as_it_was() -> None:
    spec = ProductSpec(slug="a", name="A")
    assert domain.content_hash(spec) != domain.content_hash(ProductSpec(slug="a", name="A", returnable=False))
    # The digest of a product with default terms is the one it had before the terms existed.
    assert "return_window_days" not in domain.changed_fields(spec, ProductSpec(slug="a", name="A"))
    assert domain.content_hash(spec) == domain.content_hash(ProductSpec(slug="a", name="A", return_window_days=30))


def test_demo_terms_follow_the_category() -> None:
    products = demo.generate_products(200, seed=1)
    by_category = {p["category_slug"]: p for p in products}
    assert by_category["headphones"]["returnable"] is False
    assert by_category["jeans"]["return_window_days"] == 60
    assert "returnable" not in by_category["cookware"] and "return_window_days" not in by_category["cookware"]
