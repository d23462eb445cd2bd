"""Returns and exchanges over real HTTP with every process running: a customer starts a return of a
delivered order, store staff receive and inspect it through the gateway; the stock comes back where it
was received, the payment sandbox refunds exactly what was accepted, an exchange becomes an order."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shop.storefront.v1 import returns_pb2, returns_pb2_grpc

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper, Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"system-return-{uuid.uuid4().hex}"}


def post(who: Shopper, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return who.client.post(f"{who.stack.gateway_url}{path}", json=body, headers={**who.headers, **(headers or {})})


def variants_in_stock(shopper: Shopper, backstage: Backstage, quantity: int) -> list[tuple[dict[str, Any], str]]:
    """(product, sku) of demo variants that may be returned and that some location holds `quantity` of."""
    found = shopper.get("/v1/products", query="trail", page_size=20)
    assert found.status_code == 200, found.text
    return [
        (product, variant["sku"])
        for product in found.json()["products"]
        for variant in product["variants"]
        if variant.get("price") and sum(backstage.stock(variant["sku"]).values()) >= quantity
    ]


def delivered(shopper: Shopper, backstage: Backstage, sku: str, quantity: int) -> order_pb2.Order:
    """An order of `quantity` x `sku`, shipped (the warehouse's fulfilment, which captures the payment)."""
    shopper.add_to_cart(sku, quantity)
    placed = shopper.checkout(shopper.new_card())
    assert placed.status_code == 201 and placed.json()["status"] == "completed", placed.text
    return backstage.deliver(placed.json()["order_id"])


def clerk(new_shopper: NewShopper, label: str, *locations: str) -> Shopper:
    """A member of store staff who works at `locations` (the token's shop_locations claim)."""
    return new_shopper(label, role="store_staff", claims={"locations": list(locations)})


def paid_for(order: order_pb2.Order) -> int:
    """What the order's only line paid (with its tax, less any order discount)."""
    [line] = order.lines
    paid = line.line_total.amount - (order.totals.discount_total.amount - line.discount.amount)
    if not order.totals.tax_included:
        paid += line.tax.amount if line.tax.amount else order.totals.tax_total.amount
    return paid


def warehouse(backstage: Backstage) -> str:
    response = backstage.inventory.ListLocations(
        inventory_pb2.ListLocationsRequest(type=inventory_pb2.LOCATION_TYPE_WAREHOUSE), timeout=10
    )
    return sorted(location.location_id for location in response.locations if location.active)[0]


def refunded(backstage: Backstage, order: order_pb2.Order) -> int:
    return int(backstage.authorization(order.payment.authorisation_id).get("amount_refunded", 0))


def test_return_in_store_restocks_there_and_refunds_the_whole_order(
    new_shopper: NewShopper, backstage: Backstage
) -> None:
    customer = new_shopper("returner")
    stores = customer.get("/v1/stores", country="US").json()["stores"]
    store_id = stores[0]["store_id"]
    staff = clerk(new_shopper, "store-clerk", store_id)
    [(_, sku), *_] = variants_in_stock(customer, backstage, 1)
    order = delivered(customer, backstage, sku, 1)
    body = {
        "lines": [{"line_id": order.lines[0].line_id, "quantity": 1}],
        "reason": "changed_mind",
        "method": "store",
        "store_id": store_id,
    }
    headers = key()
    started = post(customer, f"/v1/orders/{order.order_id}/returns", body, headers)
    assert started.status_code == 201, started.text
    ret = started.json()
    assert ret["status"] == "requested" and ret["order_number"] == order.number
    assert post(customer, f"/v1/orders/{order.order_id}/returns", body, headers).json()["id"] == ret["id"]
    # A customer cannot receive their own return; the store's staff can.
    refused = post(customer, f"/v1/returns/{ret['id']}/receive", {"location_id": store_id})
    assert refused.status_code == 403, refused.text
    # Staff of another store may not receive it here; this store's staff may.
    other = next((s["store_id"] for s in stores if s["store_id"] != store_id), "another-store")
    stranger = clerk(new_shopper, "other-clerk", other)
    elsewhere = post(stranger, f"/v1/returns/{ret['id']}/receive", {"location_id": store_id})
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "LOCATION_NOT_ASSIGNED", elsewhere.text
    before = backstage.stock(sku).get(store_id, 0)
    received = post(staff, f"/v1/returns/{ret['id']}/receive", {"location_id": store_id})
    assert received.status_code == 200 and received.json()["status"] == "received", received.text
    lines = [{"line_id": order.lines[0].line_id, "accepted_sellable": 1}]
    # Nor may they inspect what this store received.
    not_theirs = post(stranger, f"/v1/returns/{ret['id']}/inspect", {"lines": lines}, key())
    assert not_theirs.status_code == 403 and not_theirs.json()["code"] == "LOCATION_NOT_ASSIGNED", not_theirs.text
    inspected = post(staff, f"/v1/returns/{ret['id']}/inspect", {"lines": lines}, key())
    assert inspected.status_code == 200, inspected.text
    done = inspected.json()
    # Everything came back: the whole paid amount, shipping and tax included.
    assert done["status"] == "refunded" and done["refund_amount"]["amount"] == order.totals.total.amount, done
    backstage.eventually(lambda: backstage.stock(sku).get(store_id, 0), lambda units: units == before + 1)
    backstage.eventually(lambda: refunded(backstage, order), lambda amount: amount == order.totals.total.amount)
    history = [entry.change for entry in backstage.order(order.order_id).history]
    assert order_pb2.ORDER_CHANGE_RETURN_RECEIVED in history and order_pb2.ORDER_CHANGE_REFUNDED in history
    listed = customer.get(f"/v1/orders/{order.order_id}/returns").json()["returns"]
    assert [(r["id"], r["status"]) for r in listed] == [(ret["id"], "refunded")]


def test_mail_return_with_a_rejected_unit_refunds_and_restocks_only_the_accepted_one(
    new_shopper: NewShopper, backstage: Backstage
) -> None:
    customer = new_shopper("mailer")
    [(_, sku), *_] = variants_in_stock(customer, backstage, 2)
    order = delivered(customer, backstage, sku, 2)
    location = warehouse(backstage)
    staff = clerk(new_shopper, "warehouse-clerk", location)
    body = {"lines": [{"line_id": order.lines[0].line_id, "quantity": 2}], "reason": "defective", "method": "mail"}
    ret = post(customer, f"/v1/orders/{order.order_id}/returns", body, key()).json()
    before = backstage.stock(sku).get(location, 0)
    assert post(staff, f"/v1/returns/{ret['id']}/receive", {"location_id": location}).status_code == 200
    lines = [{"line_id": order.lines[0].line_id, "accepted_sellable": 1, "rejected": 1}]
    done = post(staff, f"/v1/returns/{ret['id']}/inspect", {"lines": lines}, key()).json()
    # Half of what the line paid; a defect is the shop's fault, so the shipping (with its tax) comes back too.
    shipping = order.totals.total.amount - paid_for(order)
    expected = paid_for(order) // 2 + shipping
    assert done["status"] == "refunded" and done["refund_amount"]["amount"] == expected, done
    assert [(x["accepted_sellable"], x["rejected"]) for x in done["lines"]] == [(1, 1)]
    backstage.eventually(lambda: refunded(backstage, order), lambda amount: amount == expected)
    backstage.eventually(lambda: backstage.stock(sku).get(location, 0), lambda units: units == before + 1)
    assert backstage.order(order.order_id).lines[0].refunded_quantity == 1
    # The same return over the gateway's gRPC API.
    with grpc.insecure_channel(customer.stack.gateway_grpc) as channel:
        stub = returns_pb2_grpc.ReturnsServiceStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("authorization", customer.headers["authorization"]),)
        found = stub.GetReturn(returns_pb2.GetReturnRequest(return_id=ret["id"]), metadata=metadata, timeout=10)
    assert (found.status, found.refund_amount.amount, found.lines[0].rejected) == ("refunded", expected, 1)


def test_exchange_becomes_an_order_of_the_other_variant(new_shopper: NewShopper, backstage: Backstage) -> None:
    customer = new_shopper("exchanger")
    staff = clerk(new_shopper, "exchange-clerk", warehouse(backstage))
    candidates = variants_in_stock(customer, backstage, 1)
    product, sku, other = next(
        (product, sku, variant["sku"])
        for product, sku in candidates
        for variant in product["variants"]
        if variant["sku"] != sku and sum(backstage.stock(variant["sku"]).values()) >= 1
    )
    order = delivered(customer, backstage, sku, 1)
    body = {
        "lines": [{"line_id": order.lines[0].line_id, "quantity": 1, "exchange_sku": other}],
        "reason": "wrong_size",
        "method": "mail",
    }
    ret = post(customer, f"/v1/orders/{order.order_id}/returns", body, key()).json()
    location = warehouse(backstage)
    assert post(staff, f"/v1/returns/{ret['id']}/receive", {"location_id": location}).status_code == 200
    available = sum(backstage.stock(other).values())
    lines = [{"line_id": order.lines[0].line_id, "accepted_sellable": 1}]
    done = post(staff, f"/v1/returns/{ret['id']}/inspect", {"lines": lines}, key()).json()
    assert done["status"] == "exchanged" and done["exchange_order_id"], done
    replacement = customer.get(f"/v1/orders/{done['exchange_order_id']}")
    assert replacement.status_code == 200, replacement.text
    placed = backstage.order(done["exchange_order_id"])
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in placed.lines] == [
        (other, 1, order.lines[0].unit_price.amount)
    ]
    # Paid by the returned unit: no new payment, nothing refunded, the original authorisation.
    assert placed.totals.total.amount == paid_for(order) and placed.payment.authorisation_id == (
        order.payment.authorisation_id
    )
    assert placed.status == order_pb2.ORDER_STATUS_CONFIRMED and refunded(backstage, order) == 0
    backstage.eventually(lambda: sum(backstage.stock(other).values()), lambda units: units == available - 1)
    assert product["id"]
