"""Every mail the shop sends arrives at the stack's SMTP catcher (`.data/mail` of `shop-dev run`): a
purchase through the gateway is confirmed to the buyer, its shipment (fulfilled over order's gRPC as
the operators' tooling) brings the carrier and tracking number, its refund the amount, and a B2B order
over the buyer's limit asks the shop's approvals desk (APPROVALS_TO: no per-account approvers are
configured on this stack) to decide; a return received in a store tells the customer what arrived."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from shop.order.v1 import order_pb2
from shop_devstack.harness import Stack
from shop_devstack.mailcatcher import parse, read_mails, text_of
from shop_notifications.settings import NotificationsSettings

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import B2bVariants, Backstage, NewShopper, Shopper

APPROVALS_DESK = NotificationsSettings.model_fields["approvals_to"].default


def mail_of(stack: Stack, backstage: Backstage, order_id: str, kind: str, within: float = 20.0) -> EmailMessage:
    """The one mail of `kind` about the order in the catcher's folder, once it is there."""

    def found() -> list[EmailMessage]:
        messages = [parse(m.path) for m in read_mails(stack.mail_dir)]
        return [m for m in messages if m["X-Shop-Order-Id"] == order_id and m["X-Shop-Notification"] == kind]

    [mail] = backstage.eventually(found, lambda mails: len(mails) >= 1, within=within)
    return mail


def buy(shopper: Shopper, sku: str) -> str:
    shopper.add_to_cart(sku, 1)
    placed = shopper.checkout(shopper.new_card())
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["order_id"]
    return order_id


def test_a_purchase_is_confirmed_shipped_and_refunded_by_mail(
    stack: Stack, new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    address = f"mail-{uuid.uuid4().hex[:8]}@example.test"
    shopper = new_shopper("mail", claims={"email": address})
    order_id = buy(shopper, trail_product["variants"][0]["sku"])
    order = backstage.order(order_id)

    confirmation = mail_of(stack, backstage, order_id, "order_confirmation")
    assert confirmation["To"] == address
    assert confirmation["Subject"] == f"Your order {order.number} is confirmed"
    assert order.number in text_of(confirmation) and "Springfield" in text_of(confirmation)

    tracking = f"1Z{uuid.uuid4().hex[:12].upper()}"
    fulfil = order_pb2.FulfilOrderRequest(
        order_id=order_id,
        request_id=str(uuid.uuid4()),
        lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in order.lines],
        carrier="UPS",
        tracking_number=tracking,
    )
    backstage.orders.FulfilOrder(fulfil, timeout=10)
    shipment = mail_of(stack, backstage, order_id, "shipment")
    assert shipment["To"] == address
    assert "Carrier: UPS" in text_of(shipment) and f"Tracking number: {tracking}" in text_of(shipment)

    # Refunded once the capture (made at the fulfilment) went through: part of it, as goodwill.
    captured = backstage.eventually(
        lambda: backstage.order(order_id), lambda o: o.payment_status == order_pb2.PAYMENT_STATUS_CAPTURED, within=20
    )
    refund = order_pb2.RefundOrderRequest(order_id=order_id, request_id=str(uuid.uuid4()), reason="late delivery")
    refund.amount.currency = captured.currency
    refund.amount.amount = 100
    backstage.orders.RefundOrder(refund, timeout=10)
    refunded = mail_of(stack, backstage, order_id, "refund")
    assert refunded["Subject"] == f"Refund of 1.00 {captured.currency} for order {order.number}"
    assert "late delivery" in text_of(refunded)
    # One mail of each kind, however the events were delivered.
    about = [m for m in (parse(s.path) for s in read_mails(stack.mail_dir)) if m["X-Shop-Order-Id"] == order_id]
    assert sorted(m["X-Shop-Notification"] for m in about) == ["order_confirmation", "refund", "shipment"]


def test_a_b2b_order_over_the_limit_asks_the_approvals_desk(
    stack: Stack, new_shopper: NewShopper, backstage: Backstage, b2b_variants: B2bVariants
) -> None:
    limit = {"amount": 1_000, "currency": "USD"}
    account_id = f"mail-{uuid.uuid4().hex[:6]}"
    account = {"account_id": account_id, "approval_limit": limit, "approval_period": "order"}
    buyer = new_shopper("mail-b2b", role="b2b_buyer", claims=account)
    variant = b2b_variants(buyer, 5)[0]
    buyer.add_to_cart(variant["sku"], 2)
    placed = buyer.checkout("invoice", purchase_order_number="PO-MAIL-1")
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "pending_approval", placed.text
    order_id = placed.json()["order_id"]

    mail = mail_of(stack, backstage, order_id, "approval_needed")
    assert mail["To"] == APPROVALS_DESK
    assert account_id in text_of(mail) and "Their approval limit: 10.00 USD" in text_of(mail)
    assert f"/v1/orders/{order_id}/approve" in text_of(mail)


def test_a_return_received_in_a_store_is_mailed(
    stack: Stack, new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    address = f"return-{uuid.uuid4().hex[:8]}@example.test"
    customer = new_shopper("mail-return", claims={"email": address})
    order_id = buy(customer, trail_product["variants"][0]["sku"])
    order = backstage.order(order_id)
    fulfil = order_pb2.FulfilOrderRequest(
        order_id=order_id,
        request_id=str(uuid.uuid4()),
        lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in order.lines],
        carrier="UPS",
        tracking_number="1ZRETURN",
    )
    backstage.orders.FulfilOrder(fulfil, timeout=10)
    store_id = customer.get("/v1/stores", country="US").json()["stores"][0]["store_id"]
    staff = new_shopper("mail-clerk", role="store_staff", claims={"locations": [store_id]})  # works there
    body = {
        "lines": [{"line_id": order.lines[0].line_id, "quantity": 1}],
        "reason": "changed_mind",
        "method": "store",
        "store_id": store_id,
    }
    headers = {**customer.headers, "Idempotency-Key": f"system-mail-return-{uuid.uuid4().hex}"}
    started = customer.client.post(f"{stack.gateway_url}/v1/orders/{order_id}/returns", json=body, headers=headers)
    assert started.status_code == 201, started.text
    received = staff.post(f"/v1/returns/{started.json()['id']}/receive", {"location_id": store_id})
    assert received.status_code == 200, received.text

    mail = mail_of(stack, backstage, order_id, "return_received")
    assert mail["To"] == address
    assert mail["Subject"] == f"We received your return for order {order.number}"
    assert f"at {store_id}:" in text_of(mail) and f"1 x {order.lines[0].name}" in text_of(mail)
