"""GetProduct shows a product only to callers of a channel it is published to, and only while it is
active: everyone else gets the NOT_FOUND of a product that does not exist. Admins and services see
every product. The answer kept in memory is shared by all callers, so the check runs on every read."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error

Metadata = tuple[tuple[str, str], ...]

ANONYMOUS: Metadata = ()
CUSTOMER = metadata_for("customer", customer_id="c-1")
ANALYST = metadata_for("fraud_analyst", customer_id="a-1")
BUYER = metadata_for("b2b_buyer", customer_id="b-1", account_id="acct-1")
APPROVER = metadata_for("b2b_approver", customer_id="b-2", account_id="acct-1")
ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
WEB_CALLERS = (ANONYMOUS, CUSTOMER, ANALYST)
B2B_CALLERS = (BUYER, APPROVER)
STAFF = (ADMIN, SERVICE)
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def shelf(catalog: Any) -> catalog_pb2.Category:
    category: catalog_pb2.Category = await catalog.category(catalog.unique("shelf"))
    return category


async def create(
    catalog: Any,
    shelf: catalog_pb2.Category,
    channels: tuple[catalog_pb2.Channel.ValueType, ...],
    status: catalog_pb2.ProductStatus.ValueType = catalog_pb2.PRODUCT_STATUS_ACTIVE,
) -> catalog_pb2.Product:
    product = catalog.product(catalog.unique("item"), shelf.id, [catalog.unique("SKU")], channels=channels)
    product.status = status
    created: catalog_pb2.Product = await catalog.create(product)
    return created


async def read(catalog: Any, request: catalog_pb2.GetProductRequest, metadata: Metadata) -> catalog_pb2.Product | None:
    """The product, or None when the answer is NOT_FOUND (any other error fails the test)."""
    try:
        product: catalog_pb2.Product = await catalog.stub.GetProduct(request, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        assert error.code() == NOT_FOUND, error
        return None
    return product


def keys(product: catalog_pb2.Product) -> list[catalog_pb2.GetProductRequest]:
    return [catalog_pb2.GetProductRequest(id=product.id), catalog_pb2.GetProductRequest(slug=product.slug)]


async def shown_to(catalog: Any, product: catalog_pb2.Product, callers: tuple[Metadata, ...]) -> list[bool]:
    return [await read(catalog, key, who) == product for who in callers for key in keys(product)]


async def error_of(catalog: Any, request: catalog_pb2.GetProductRequest, metadata: Metadata) -> RpcErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.GetProduct(request, metadata=metadata)
    return parse_rpc_error(caught.value)


async def test_a_b2b_only_product_is_shown_to_b2b_callers_and_staff_only(
    catalog: Any, shelf: catalog_pb2.Category
) -> None:
    product = await create(catalog, shelf, (catalog_pb2.CHANNEL_B2B,))
    assert await shown_to(catalog, product, WEB_CALLERS) == [False] * 6
    assert await shown_to(catalog, product, B2B_CALLERS + STAFF) == [True] * 8


async def test_a_web_product_is_hidden_from_b2b_callers_and_a_product_without_channels_from_shoppers(
    catalog: Any, shelf: catalog_pb2.Category
) -> None:
    web = await create(catalog, shelf, (catalog_pb2.CHANNEL_WEB,))
    assert await shown_to(catalog, web, WEB_CALLERS + STAFF) == [True] * 10
    assert await shown_to(catalog, web, B2B_CALLERS) == [False] * 4
    nowhere = await create(catalog, shelf, ())
    assert await shown_to(catalog, nowhere, WEB_CALLERS + B2B_CALLERS) == [False] * 10
    assert await shown_to(catalog, nowhere, STAFF) == [True] * 4


async def test_products_that_are_not_active_are_shown_to_staff_only(catalog: Any, shelf: catalog_pb2.Category) -> None:
    everywhere = (catalog_pb2.CHANNEL_WEB, catalog_pb2.CHANNEL_MOBILE, catalog_pb2.CHANNEL_B2B)
    draft = await create(catalog, shelf, everywhere, catalog_pb2.PRODUCT_STATUS_DRAFT)
    discontinued = await create(catalog, shelf, everywhere)
    discontinued = await catalog.stub.DiscontinueProduct(
        catalog_pb2.DiscontinueProductRequest(id=discontinued.id), metadata=ADMIN
    )
    for product in (draft, discontinued):
        assert await shown_to(catalog, product, WEB_CALLERS + B2B_CALLERS) == [False] * 10
        assert await shown_to(catalog, product, STAFF) == [True] * 4


async def test_the_answer_kept_in_memory_is_checked_for_every_caller(catalog: Any, shelf: catalog_pb2.Category) -> None:
    for first in (ADMIN, BUYER):  # whoever's read fills the cache...
        product = await create(catalog, shelf, (catalog_pb2.CHANNEL_B2B,))
        assert await shown_to(catalog, product, (first,)) == [True, True]
        # ...a web caller right after it is refused, and a b2b caller right after a refusal is served.
        assert await shown_to(catalog, product, (ANONYMOUS, CUSTOMER)) == [False] * 4
        assert await shown_to(catalog, product, (APPROVER,)) == [True, True]


async def test_a_hidden_product_answers_exactly_like_a_missing_one(catalog: Any, shelf: catalog_pb2.Category) -> None:
    product = await create(catalog, shelf, (catalog_pb2.CHANNEL_B2B,))
    missing_id, missing_slug = str(uuid.uuid4()), catalog.unique("no-such-item")
    for hidden, missing in (
        (catalog_pb2.GetProductRequest(id=product.id), catalog_pb2.GetProductRequest(id=missing_id)),
        (catalog_pb2.GetProductRequest(slug=product.slug), catalog_pb2.GetProductRequest(slug=missing_slug)),
    ):
        refused, absent = await error_of(catalog, hidden, CUSTOMER), await error_of(catalog, missing, CUSTOMER)
        key, other = (product.id, missing_id) if hidden.id else (product.slug, missing_slug)
        assert (refused.code, refused.reason) == (absent.code, absent.reason) == (NOT_FOUND, "NOT_FOUND")
        assert refused.message == absent.message.replace(other, key)
        assert refused.metadata == {**absent.metadata, "key": key}
