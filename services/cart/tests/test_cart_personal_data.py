"""A customer's carts: export and erasure (deleted, with the guest carts merged into them), once per
request id, with the customer_erased event; who may ask; bad input changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.cart.v1 import cart_pb2
from shop.common.v1 import common_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

ADMIN = metadata_for("admin")


async def test_export_then_erase_deletes_the_carts_once(shop: Shop) -> None:
    sku = await shop.sku()
    customer, other = shop.unique("cust"), shop.unique("cust")
    as_customer = shop.customer(customer)
    cart = await shop.customer_cart(customer)
    await shop.add(cart.cart_id, sku, 2, who=as_customer)
    guest = await shop.guest_cart()
    await shop.add(guest.cart_id, sku, 1)
    merge = cart_pb2.MergeCartsRequest(guest_cart_id=guest.cart_id, context=shop.context(customer))
    await shop.stub.MergeCarts(merge, metadata=as_customer)
    others = await shop.customer_cart(other)

    exported = await shop.stub.ExportCustomerData(
        common_pb2.ExportCustomerDataRequest(customer_id=customer), metadata=as_customer
    )
    document = json.loads(exported.document)
    assert exported.service == "cart"
    assert {c["id"] for c in document["carts"]} == {cart.cart_id, guest.cart_id}
    assert {line["sku"] for line in document["cart_lines"]} == {sku}

    request = common_pb2.EraseCustomerRequest(customer_id=customer, request_id=str(uuid.uuid4()))
    erased = await shop.stub.EraseCustomer(request, metadata=ADMIN)
    assert (dict(erased.changed), erased.repeated) == ({"carts": 2, "cart_lines": 2}, False)
    repeat = await shop.stub.EraseCustomer(request, metadata=ADMIN)
    assert (dict(repeat.changed), repeat.repeated) == ({"carts": 2, "cart_lines": 2}, True)
    again = common_pb2.EraseCustomerRequest(customer_id=customer, request_id=str(uuid.uuid4()))
    assert dict((await shop.stub.EraseCustomer(again, metadata=as_customer)).changed) == {"carts": 0, "cart_lines": 0}

    after = json.loads(
        (
            await shop.stub.ExportCustomerData(
                common_pb2.ExportCustomerDataRequest(customer_id=customer), metadata=ADMIN
            )
        ).document
    )
    assert (after["carts"], after["cart_lines"], len(after["erasures"])) == ([], [], 2)
    assert (await shop.get(others.cart_id, who=shop.customer(other))).cart_id == others.cart_id

    payload = await shop.event(
        "shop.cart.customer_erased",
        lambda data: common_pb2.CustomerErased.FromString(data).request_id == request.request_id,
    )
    event = common_pb2.CustomerErased.FromString(payload)
    assert (event.customer_id, event.service, dict(event.changed)) == (customer, "cart", dict(erased.changed))


async def test_only_the_customer_or_an_admin_and_bad_input(shop: Shop) -> None:
    customer = shop.unique("cust")
    cart = await shop.customer_cart(customer)
    request = common_pb2.EraseCustomerRequest(customer_id=customer, request_id=str(uuid.uuid4()))
    for who in (shop.customer(shop.unique("cust")), ()):
        error = await shop.fails(shop.stub.EraseCustomer(request, metadata=who))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_DATA_SUBJECT"
        export = common_pb2.ExportCustomerDataRequest(customer_id=customer)
        error = await shop.fails(shop.stub.ExportCustomerData(export, metadata=who))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
    bad = common_pb2.EraseCustomerRequest(customer_id=" x", request_id="")
    error = await shop.fails(shop.stub.EraseCustomer(bad, metadata=ADMIN))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"customer_id", "request_id"}
    # A request id is one erasure's: reused for another customer it is refused.
    await shop.stub.EraseCustomer(request, metadata=ADMIN)
    other = common_pb2.EraseCustomerRequest(customer_id=shop.unique("cust"), request_id=request.request_id)
    error = await shop.fails(shop.stub.EraseCustomer(other, metadata=ADMIN))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and {v.field for v in error.violations} == {"request_id"}
    error = await shop.fails(shop.get(cart.cart_id, who=shop.customer(customer)))
    assert error.code == grpc.StatusCode.NOT_FOUND
