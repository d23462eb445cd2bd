"""Each order event the shop tells its customers about arrives as one mail at a real SMTP server:
the confirmation, the shipment with its tracking number, the refund, and the approval request to the
account's approvers; HTML bodies escape what they show."""

from __future__ import annotations

import uuid
from email.message import Message
from typing import TYPE_CHECKING, Any, cast

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop.order.v1 import events_pb2, order_pb2
from shop_notifications import events
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Stack

ADMIN = metadata_for("admin")


def body(message: Message, subtype: str) -> str:
    """The text/plain or text/html part, decoded."""
    part = next(p for p in message.walk() if p.get_content_type() == f"text/{subtype}")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8").replace("\r\n", "\n")


async def test_a_confirmed_order_is_mailed_to_its_buyer(stack: Stack) -> None:
    order = await stack.place(lines={"Trail shoe": (2, 1000), "Sock": (1, 250)})
    [mail] = await stack.mails_of(order.order_id, "order_confirmation")
    assert mail["To"] == order.email
    assert mail["Subject"] == f"Your order {order.number} is confirmed"
    assert mail["Message-ID"].endswith("@shop.example>")
    text = body(mail, "plain")
    assert "2 x Trail shoe (SKU-0)  20.00 EUR" in text
    assert "Total  27.50 EUR" in text  # 20.00 + 2.50 + 5.00 shipping
    assert "Berlin" in text
    assert "27.50 EUR" in body(mail, "html")
    [row] = await stack.recorded(order.order_id)
    assert (row.status, row.attempts, row.kind) == ("sent", 1, "order_confirmation")
    assert row.message_id == mail["Message-ID"]


async def test_a_shipment_carries_carrier_and_tracking_and_a_refund_its_amount(stack: Stack) -> None:
    order = await stack.place()
    await stack.mails_of(order.order_id, "order_confirmation")
    await stack.fulfil(order, carrier="DHL", tracking="TRK-000123")
    [shipped] = await stack.mails_of(order.order_id, "shipment")
    assert shipped["Subject"] == f"Your order {order.number} has shipped"
    assert "Carrier: DHL" in body(shipped, "plain")
    assert "Tracking number: TRK-000123" in body(shipped, "plain")
    assert "2 x Trail shoe" in body(shipped, "plain")
    await stack.refund(order, 1_250)
    [refund] = await stack.mails_of(order.order_id, "refund")
    assert refund["Subject"] == f"Refund of 12.50 EUR for order {order.number}"
    assert "damaged in transit" in body(refund, "plain")


async def test_an_order_over_the_limit_asks_the_accounts_approvers(stack: Stack) -> None:
    order = await stack.place(account_id="acct-approvers", approval_limit=1_000)
    [mail] = await stack.mails_of(order.order_id, "approval_needed")
    assert mail["To"] == stack.settings.approvers["acct-approvers"]
    assert "Their approval limit: 10.00 EUR" in body(mail, "plain")
    assert f"/v1/orders/{order.order_id}/approve" in body(mail, "plain")
    assert not stack.catcher.mails(order.order_id, "order_confirmation")  # not confirmed yet
    other = await stack.place(account_id="acct-without-approvers", approval_limit=1_000)
    [desk] = await stack.mails_of(other.order_id, "approval_needed")
    assert desk["To"] == stack.settings.approvals_to


async def test_each_step_of_an_approval_chain_asks_its_approvers_once_it_is_reached(stack: Stack) -> None:
    chain = common_pb2.ApprovalChain(
        steps=[
            common_pb2.ApprovalStep(name="department head", rule_id="r-1", approvers=["bob"], quorum=1),
            common_pb2.ApprovalStep(name="finance", rule_id="r-2", approvers=["carol", "dave"], quorum=2),
        ]
    )
    order = await stack.place(account_id="acct-approvers", approval_chain=chain)
    [first] = await stack.mails_of(order.order_id, "approval_needed")
    assert first["Subject"].endswith(", step 1 of 2")
    assert "Step 1 of 2: department head, decided by bob" in body(first, "plain")

    await approve(stack, order, "bob")
    second = (await stack.mails_of(order.order_id, "approval_needed", count=2))[1]
    assert second["To"] == stack.settings.approvers["acct-approvers"]
    assert "Step 2 of 2: finance, decided by carol, dave (2 approvals)" in body(second, "plain")
    assert "Step 2 of 2: finance" in body(second, "html")

    await approve(stack, order, "carol")  # the quorum is not reached: nobody else is asked
    await approve(stack, order, "dave")  # the last step: the order is confirmed, nobody is asked
    await stack.mails_of(order.order_id, "order_confirmation")
    assert len(stack.catcher.mails(order.order_id, "approval_needed")) == 2


async def approve(stack: Stack, order: order_pb2.Order, approver: str) -> None:
    metadata = metadata_for("b2b_approver", customer_id=approver, account_id=order.account_id)
    await stack.orders.ApproveOrder(order_pb2.ApproveOrderRequest(order_id=order.order_id), metadata=metadata)


async def test_html_bodies_escape_what_they_show(stack: Stack) -> None:
    order = await stack.place(lines={'<script>alert("x")</script> & <b>bold</b>': (1, 1000)})
    [mail] = await stack.mails_of(order.order_id, "order_confirmation")
    html = body(mail, "html")
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert '<script>alert("x")</script> & <b>bold</b>' in body(mail, "plain")  # plain text is shown as it is


async def test_operators_read_what_was_mailed(stack: Stack) -> None:
    order = await stack.place()
    await stack.mails_of(order.order_id, "order_confirmation")
    await stack.recorded(order.order_id)
    listed = await stack.stub.ListNotifications(pb.ListNotificationsRequest(order_id=order.order_id), metadata=ADMIN)
    [item] = listed.notifications
    assert (item.kind, item.status, item.recipient) == (
        pb.NOTIFICATION_KIND_ORDER_CONFIRMATION,
        pb.DELIVERY_STATUS_SENT,
        order.email,
    )
    assert item.text_body == ""  # bodies only with GetNotification
    got = await stack.stub.GetNotification(
        pb.GetNotificationRequest(notification_id=item.notification_id), metadata=ADMIN
    )
    assert order.number in got.notification.text_body


async def test_the_list_pages_newest_first(stack: Stack) -> None:
    order = await stack.fulfil(await stack.place())
    await stack.mails_of(order.order_id, "shipment")
    request = pb.ListNotificationsRequest(order_id=order.order_id, page=common_pb2.PageRequest(page_size=1))
    first = await stack.stub.ListNotifications(request, metadata=ADMIN)
    request.page.page_token = first.page.next_page_token
    second = await stack.stub.ListNotifications(request, metadata=ADMIN)
    assert [n.kind for n in (*first.notifications, *second.notifications)] == [
        pb.NOTIFICATION_KIND_SHIPMENT,
        pb.NOTIFICATION_KIND_ORDER_CONFIRMATION,
    ]
    assert second.page.next_page_token == ""
    sent = await stack.stub.ListNotifications(
        pb.ListNotificationsRequest(order_id=order.order_id, status=pb.DELIVERY_STATUS_FAILED), metadata=ADMIN
    )
    assert list(sent.notifications) == []


async def test_bad_requests_name_the_field(stack: Stack) -> None:
    calls: list[tuple[Any, str]] = [
        (
            stack.stub.GetNotification(pb.GetNotificationRequest(notification_id="nope"), metadata=ADMIN),
            "notification_id",
        ),
        (
            stack.stub.ListNotifications(
                pb.ListNotificationsRequest(page=common_pb2.PageRequest(page_token="eyJ0IjoxLCJpZCI6Mn0")),
                metadata=ADMIN,
            ),
            "page.page_token",
        ),
        (
            stack.stub.ListNotifications(
                pb.ListNotificationsRequest(status=cast(pb.DeliveryStatus.ValueType, 99)), metadata=ADMIN
            ),
            "status",
        ),
    ]
    for call, field in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        info = parse_rpc_error(caught.value)
        assert info.code is grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in info.violations] == [field]


async def test_customers_may_not_read_notifications(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=metadata_for("customer", "c-1"))
    assert parse_rpc_error(caught.value).reason == "ROLE_REQUIRED"


async def test_a_received_return_is_mailed_to_the_buyer(stack: Stack) -> None:
    order = await stack.fulfil(await stack.place(lines={"Trail shoe": (2, 1000)}), tracking="TRK-R")
    returned = order_pb2.Return(
        return_id=str(uuid.uuid4()),
        order_id=order.order_id,
        order_number=order.number,
        email=order.email,
        receiving_location_id="store-berlin",
        lines=[order_pb2.ReturnLine(line_id=order.lines[0].line_id, name="Trail shoe", requested_quantity=1)],
    )
    event_id = str(uuid.uuid4())
    event = events_pb2.ReturnReceived(
        meta=common_pb2.EventMeta(event_id=event_id, aggregate_id=order.order_id), order_return=returned
    )
    await stack.runtime.js.publish(events.RETURN_RECEIVED, event.SerializeToString(), headers={"Nats-Msg-Id": event_id})
    [mail] = await stack.mails_of(order.order_id, "return_received")
    assert mail["To"] == order.email
    assert mail["Subject"] == f"We received your return for order {order.number}"
    assert "at store-berlin:\n  1 x Trail shoe" in body(mail, "plain")
