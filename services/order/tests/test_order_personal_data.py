"""A customer's orders: export, and erasure that pseudonymises the e-mail and the addresses' personal
fields once per request id, keeping amounts, lines and payment references; an erased order still
fulfils and refunds (its effects at the provider succeed)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for
from shopkit.personal_data import pseudonym, pseudonym_email
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Shop

ADMIN = metadata_for("admin")


def erase(customer_id: str, request_id: str = "") -> common_pb2.EraseCustomerRequest:
    return common_pb2.EraseCustomerRequest(customer_id=customer_id, request_id=request_id or str(uuid.uuid4()))


async def test_an_erased_order_keeps_its_accounting_and_still_fulfils_and_refunds(shop: Shop) -> None:
    customer_id = shop.new_id("cus-")
    order = await shop.place(customer_id=customer_id)
    other = await shop.place()
    await shop.capture(order.order_id)

    exported = await shop.stub.ExportCustomerData(
        common_pb2.ExportCustomerDataRequest(customer_id=customer_id), metadata=shop.customer(customer_id)
    )
    document = json.loads(exported.document)
    assert [o["id"] for o in document["orders"]] == [order.order_id]
    assert document["orders"][0]["email"] == "ada@example.com"
    assert len(document["order_lines"]) == 1 and document["history"]

    request = erase(customer_id)
    erased = await shop.stub.EraseCustomer(request, metadata=shop.customer(customer_id))
    assert dict(erased.changed) == {"orders": 1, "return_notes": 0}
    repeat = await shop.stub.EraseCustomer(request, metadata=ADMIN)
    assert repeat.repeated and dict(repeat.changed) == dict(erased.changed)
    assert dict((await shop.stub.EraseCustomer(erase(customer_id), metadata=ADMIN)).changed)["orders"] == 0

    kept = await shop.get(order.order_id, full=True)
    alias = pseudonym(customer_id)
    assert kept.email == pseudonym_email(customer_id)
    assert (kept.billing_address.name, kept.billing_address.line1) == (alias, alias)
    assert (kept.billing_address.city, kept.billing_address.country) == ("Berlin", "DE")
    ship = kept.fulfilment_method.ship.address
    assert (ship.name, ship.postal_code) == (alias, "10115")
    assert (kept.number, kept.totals) == (order.number, order.totals)
    assert (kept.payment.authorisation_id, kept.payment.payment_method_id) == (
        order.payment.authorisation_id,
        order.payment.payment_method_id,
    )
    assert list(kept.lines) == list(order.lines)
    assert (await shop.get(other.order_id)).email == "ada@example.com"

    fulfilled = await shop.fulfil(kept)
    assert fulfilled.fulfilment_status == order_pb2.FULFILMENT_STATUS_FULFILLED
    refunded = await shop.refund(order.order_id, 500)
    assert refunded.order.totals.total.amount == order.totals.total.amount

    async def settled() -> bool:
        return all(status == "succeeded" for status, _ in (await shop.effects(order.order_id)).values())

    await eventually(settled)
    assert "refund" in await shop.effects(order.order_id)


async def test_export_and_erase_are_the_customers_own(shop: Shop) -> None:
    customer_id = shop.new_id("cus-")
    await shop.place(customer_id=customer_id)
    before = await shop.counts()
    for who in (shop.customer(shop.new_id("cus-")), ()):
        error = await shop.fails(shop.stub.EraseCustomer(erase(customer_id), metadata=who))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
    error = await shop.fails(shop.stub.EraseCustomer(erase(customer_id, "no spaces allowed"), metadata=ADMIN))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in error.violations] == ["request_id"]
    assert await shop.counts() == before
