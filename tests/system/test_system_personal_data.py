"""A customer's data on the launched stack: a customer buys, exports everything the shop holds about
them (the order, the checkout, the confirmation mail), erases themselves (DELETE /v1/me: the same
Idempotency-Key again changes nothing more), exports again and finds nothing personal left; the order
is still there for an admin with its totals and pseudonymised fields, and it still ships. The same over
the gateway's gRPC AccountService (ExportMyData, EraseMe), with a service that does not answer: the
erasure is UNAVAILABLE naming it, and the same key again completes it."""

from __future__ import annotations

import json
import os
import signal
import uuid
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.order.v1 import order_pb2
from shop.storefront.v1 import account_pb2, account_pb2_grpc
from shop_devstack.harness import Stack, read_state
from shopkit.errors import parse_rpc_error
from shopkit.personal_data import pseudonym

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper, Shopper

SERVICES = {"cart", "checkout", "order", "fraud", "notifications", "customers"}


def export(shopper: Shopper) -> dict[str, Any]:
    response = shopper.get("/v1/me/export")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def erase(shopper: Shopper, key: str) -> dict[str, Any]:
    response = shopper.client.delete(
        f"{shopper.stack.gateway_url}/v1/me", headers={**shopper.headers, "Idempotency-Key": key}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_customer_exports_erases_and_their_order_lives_on(
    stack: Stack, new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    address = f"erase-{uuid.uuid4().hex[:8]}@example.test"
    shopper = new_shopper("erase", claims={"email": address})
    shopper.add_to_cart(trail_product["variants"][0]["sku"], 1)
    placed = shopper.checkout(shopper.new_card())
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    client_ip = shopper.headers["x-forwarded-for"]
    profile = shopper.client.patch(
        f"{stack.gateway_url}/v1/me",
        json={"display_name": "Ada Lovelace", "phone": "+15555550100"},
        headers=shopper.headers,
    )
    assert profile.status_code == 200, profile.text

    # The export: a section per service, with the order, the checkout and the mail (once it is written).
    before = backstage.eventually(lambda: export(shopper), lambda d: len(d["services"]["notifications"]["mails"]) >= 1)
    customer_id = before["customer_id"]
    assert set(before["services"]) == SERVICES
    [order] = before["services"]["order"]["orders"]
    assert (order["id"], order["email"]) == (order_id, address)
    [checkout] = before["services"]["checkout"]["checkouts"]
    assert checkout["order_id"] == order_id and checkout["state"]["request"]["client_ip"] == client_ip
    assert before["services"]["notifications"]["mails"][0]["recipient"] == address
    assert before["services"]["fraud"]["assessments"][0]["context"]["email"] == address
    assert before["services"]["customers"]["profiles"][0]["phone"] == "+15555550100"
    text = json.dumps(before)
    assert address in text and "Ada Lovelace" in text and "1 Main St" in text

    admin = new_shopper("admin", role="admin")
    as_placed = admin.get(f"/v1/orders/{order_id}").json()
    key = f"erase-{uuid.uuid4().hex}"
    erased = erase(shopper, key)
    assert set(erased["services"]) == SERVICES and erased["customer_id"] == customer_id
    assert erased["services"]["order"]["changed"]["orders"] == 1
    assert erased["services"]["checkout"]["changed"]["checkouts"] == 1
    assert erased["services"]["fraud"]["changed"]["assessments"] >= 1
    assert erased["services"]["notifications"]["changed"]["mails"] >= 1
    assert erased["services"]["customers"]["changed"]["profiles"] == 1
    assert not any(s["repeated"] for s in erased["services"].values())
    repeat = erase(shopper, key)
    assert all(s["repeated"] for s in repeat["services"].values())
    assert {n: s["changed"] for n, s in repeat["services"].items()} == {
        n: s["changed"] for n, s in erased["services"].items()
    }

    after = export(shopper)
    text = json.dumps(after)
    for personal in (address, "Ada Lovelace", "1 Main St", "+15555550100", client_ip, shopper.headers["x-device-id"]):
        assert personal not in text, personal
    assert after["services"]["cart"]["carts"] == [] and after["services"]["customers"]["profiles"] == []
    assert [o["id"] for o in after["services"]["order"]["orders"]] == [order_id]
    assert all(len(part["erasures"]) == 1 for part in after["services"].values())

    # The order stays for accounting: an admin reads it with its totals and pseudonymised fields.
    kept = admin.get(f"/v1/orders/{order_id}")
    assert kept.status_code == 200, kept.text
    body = kept.json()
    assert (body["number"], body["totals"], body["lines"]) == (
        as_placed["number"],
        as_placed["totals"],
        as_placed["lines"],
    )
    assert as_placed["billing_address"]["name"] == "Ada Lovelace"
    assert body["billing_address"]["name"] == pseudonym(customer_id)
    assert body["billing_address"]["postal_code"] == "62701"
    for_admin = admin.get(f"/v1/admin/customers/{customer_id}/export")
    assert for_admin.status_code == 200, for_admin.text
    assert [o["id"] for o in for_admin.json()["services"]["order"]["orders"]] == [order_id]

    # And it still ships (no mail goes to the erased address).
    full = backstage.order(order_id)
    fulfil = order_pb2.FulfilOrderRequest(
        order_id=order_id,
        request_id=str(uuid.uuid4()),
        lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in full.lines],
        carrier="UPS",
        tracking_number=f"1Z{uuid.uuid4().hex[:12].upper()}",
    )
    shipped = backstage.orders.FulfilOrder(fulfil, timeout=10).order
    assert shipped.fulfilment_status == order_pb2.FULFILMENT_STATUS_FULFILLED
    assert shipped.email.endswith("@erased.invalid")


def test_a_customer_exports_and_erases_over_grpc_and_an_unanswered_service_is_named(
    stack: Stack, new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    address = f"erase-grpc-{uuid.uuid4().hex[:8]}@example.test"
    shopper = new_shopper("erase-grpc", claims={"email": address})
    shopper.add_to_cart(trail_product["variants"][0]["sku"], 1)
    placed = shopper.checkout(shopper.new_card())
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    metadata = (("authorization", shopper.headers["authorization"]),)
    with grpc.insecure_channel(stack.gateway_grpc) as channel:
        stub = account_pb2_grpc.AccountServiceStub(channel)  # type: ignore[no-untyped-call]

        def export() -> account_pb2.ExportMyDataResponse:
            found: account_pb2.ExportMyDataResponse = stub.ExportMyData(
                account_pb2.ExportMyDataRequest(), metadata=metadata, timeout=20
            )
            return found

        before = backstage.eventually(export, lambda d: len(json.loads(d.services["notifications"])["mails"]) >= 1)
        assert set(before.services) == SERVICES and before.exported_at
        assert [o["id"] for o in json.loads(before.services["order"])["orders"]] == [order_id]
        assert address in before.services["notifications"]

        with pytest.raises(grpc.RpcError) as keyless:
            stub.EraseMe(account_pb2.EraseMeRequest(), metadata=metadata, timeout=20)
        assert parse_rpc_error(keyless.value).reason == "IDEMPOTENCY_KEY_REQUIRED"

        # Notifications stops answering (its process paused): the erasure names it and may be repeated.
        key = f"erase-grpc-{uuid.uuid4().hex}"
        erase = account_pb2.EraseMeRequest(idempotency_key=key)
        [pid] = [row["pid"] for row in read_state(stack.data_dir)["rows"] if row["name"] == "notifications"]
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(grpc.RpcError) as incomplete:  # the gateway answers before this deadline
                stub.EraseMe(erase, metadata=metadata, timeout=10)
        finally:
            os.kill(pid, signal.SIGCONT)
        info = parse_rpc_error(incomplete.value)
        assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "ERASURE_INCOMPLETE"), info
        assert info.metadata["failed_services"] == "notifications"
        assert set(info.metadata["erased_services"].split(",")) == SERVICES - {"notifications"}

        erased = stub.EraseMe(erase, metadata=metadata, timeout=30)
        assert erased.idempotency_key == key and erased.customer_id == before.customer_id
        assert set(erased.services) == SERVICES
        assert all(erased.services[name].repeated for name in SERVICES - {"notifications"})
        assert erased.services["order"].changed["orders"] == 1
        again = stub.EraseMe(erase, metadata=metadata, timeout=30)
        assert all(outcome.repeated for outcome in again.services.values())
        assert {n: dict(o.changed) for n, o in again.services.items()} == {
            n: dict(o.changed) for n, o in erased.services.items()
        }
        after = export()
    assert address not in json.dumps(dict(after.services))
    assert [o["id"] for o in json.loads(after.services["order"])["orders"]] == [order_id]
