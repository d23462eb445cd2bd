"""A customer's checkouts: export, and erasure that pseudonymises a finished checkout (e-mail, names,
street lines, phone; IP and device id dropped) once per request id; the checkout still reads."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shopkit.personal_data import pseudonym, pseudonym_email

if TYPE_CHECKING:
    from conftest import Shop


async def export(shop: Shop, customer_id: str) -> dict[str, list[dict[str, object]]]:
    request = common_pb2.ExportCustomerDataRequest(customer_id=customer_id)
    response = await shop.stub.ExportCustomerData(request, metadata=shop.ADMIN)
    assert response.service == "checkout"
    document: dict[str, list[dict[str, object]]] = json.loads(response.document)
    return document


async def test_erasure_pseudonymises_a_finished_checkout_once(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1250)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card()), buyer)
    assert placed.status == checkout_pb2.CHECKOUT_STATUS_COMPLETED

    before = (await export(shop, buyer.customer_id))["checkouts"]
    assert [c["id"] for c in before] == [placed.checkout_id]
    state = before[0]["state"]
    assert isinstance(state, dict)
    assert state["request"]["email"] == f"{buyer.customer_id}@example.com"
    assert state["request"]["client_ip"] == "203.0.113.7"

    request = common_pb2.EraseCustomerRequest(customer_id=buyer.customer_id, request_id=str(uuid.uuid4()))
    erased = await shop.stub.EraseCustomer(request, metadata=buyer.metadata)
    assert dict(erased.changed) == {"checkouts": 1, "checkouts_in_progress": 0} and not erased.repeated
    assert (await shop.stub.EraseCustomer(request, metadata=buyer.metadata)).repeated
    again = common_pb2.EraseCustomerRequest(customer_id=buyer.customer_id, request_id=str(uuid.uuid4()))
    assert dict((await shop.stub.EraseCustomer(again, metadata=shop.ADMIN)).changed)["checkouts"] == 0

    after = await export(shop, buyer.customer_id)
    state = after["checkouts"][0]["state"]
    assert isinstance(state, dict)
    req = state["request"]
    assert req["email"] == pseudonym_email(buyer.customer_id)
    assert (req["client_ip"], req["device_id"]) == ("", "")
    billing = req["billing_address"]
    assert (billing["name"], billing["line1"]) == (pseudonym(buyer.customer_id),) * 2
    assert (billing["postal_code"], billing["country"]) == ("12345", "US")
    assert len(after["erasures"]) == 2
    # The checkout still reads, with its totals and order.
    checkout = await shop.checkout(placed.checkout_id)
    assert checkout.order_id == placed.order_id and checkout.totals.total.amount == 1250


async def test_someone_else_may_not_erase(shop: Shop) -> None:
    buyer, other = shop.customer(), shop.customer()
    request = common_pb2.EraseCustomerRequest(customer_id=buyer.customer_id, request_id=str(uuid.uuid4()))
    error = await shop.fails(shop.stub.EraseCustomer(request, metadata=other.metadata))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    error = await shop.fails(shop.stub.ExportCustomerData(common_pb2.ExportCustomerDataRequest(), metadata=shop.ADMIN))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and {v.field for v in error.violations} == {"customer_id"}
