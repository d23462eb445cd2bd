"""Every transition over a real gRPC channel: the allowed ones, the refused ones (with their reason
and nothing changed), who may make them, concurrent attempts, and the database backing it all."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from shop.order.v1 import order_pb2
from shop_order.domain import machine
from shop_order.domain.model import FulfilmentStatus, OrderStatus, PaymentStatus
from shop_order.operations import Orders
from shopkit.auth import metadata_for
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Shop

ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
S = order_pb2  # enums
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


def approver(customer_id: str, account_id: str) -> Any:
    return metadata_for("b2b_approver", customer_id, account_id)


async def unchanged(shop: Shop, order: order_pb2.Order) -> None:
    """The order is exactly as it was (version, statuses, history)."""
    after = await shop.get(order.order_id)
    assert (after.version, after.status, after.payment_status, after.fulfilment_status) == (
        order.version,
        order.status,
        order.payment_status,
        order.fulfilment_status,
    )


# --- fraud hold -------------------------------------------------------------------------------------------


async def test_a_fraud_review_holds_the_order_until_checkout_releases_it(shop: Shop) -> None:
    order = await shop.place(fraud_review_id="rev-1")
    assert order.status == S.ORDER_STATUS_PENDING_REVIEW and order.fraud_review_id == "rev-1"
    release = order_pb2.ReleaseFraudHoldRequest(order_id=order.order_id, review_id="rev-other")

    mismatch = await shop.fails(shop.stub.ReleaseFraudHold(release, metadata=SERVICE))
    assert (mismatch.code, mismatch.reason) == (FAILED_PRECONDITION, "FRAUD_REVIEW_MISMATCH")
    denied = await shop.fails(shop.stub.ReleaseFraudHold(release, metadata=shop.customer(order.customer_id)))
    assert (denied.code, denied.reason) == (PERMISSION_DENIED, "ROLE_REQUIRED")
    capture = await shop.fails(shop.capture(order.order_id))
    assert (capture.code, capture.reason) == (FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE")
    await unchanged(shop, order)

    release.review_id = "rev-1"
    released = (await shop.stub.ReleaseFraudHold(release, metadata=SERVICE)).order
    assert (released.status, released.version) == (S.ORDER_STATUS_CONFIRMED, 2)
    again = (await shop.stub.ReleaseFraudHold(release, metadata=SERVICE)).order
    assert again == released


async def test_a_released_order_that_needs_approval_waits_for_it(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await shop.place(fraud_review_id="rev-2", account_id=account, approval_limit=100)
    assert order.status == S.ORDER_STATUS_PENDING_REVIEW
    early = await shop.fails(
        shop.stub.ApproveOrder(order_pb2.ApproveOrderRequest(order_id=order.order_id), metadata=approver("a", account))
    )
    assert (early.code, early.reason) == (FAILED_PRECONDITION, "ORDER_NOT_PENDING_APPROVAL")
    release = order_pb2.ReleaseFraudHoldRequest(order_id=order.order_id, review_id="rev-2")
    released = (await shop.stub.ReleaseFraudHold(release, metadata=SERVICE)).order
    assert released.status == S.ORDER_STATUS_PENDING_APPROVAL


async def test_a_rejected_review_cancels_the_order(shop: Shop) -> None:
    order = await shop.place(fraud_review_id="rev-3")
    cancelled = await shop.cancel(order.order_id, S.CANCELLATION_REASON_FRAUD_REJECTED, SERVICE)
    assert (cancelled.status, cancelled.payment_status, cancelled.cancellation_reason) == (
        S.ORDER_STATUS_CANCELLED,
        S.PAYMENT_STATUS_VOIDED,
        S.CANCELLATION_REASON_FRAUD_REJECTED,
    )
    release = order_pb2.ReleaseFraudHoldRequest(order_id=order.order_id, review_id="rev-3")
    error = await shop.fails(shop.stub.ReleaseFraudHold(release, metadata=SERVICE))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "ORDER_NOT_PENDING_REVIEW")


# --- B2B approval -------------------------------------------------------------------------------------------


async def test_an_approver_of_the_same_account_approves(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await shop.place(customer_id="buyer-1", account_id=account, approval_limit=1000, invoice=True)
    assert (order.status, order.approval.status, order.approval.limit.amount) == (
        S.ORDER_STATUS_PENDING_APPROVAL,
        S.APPROVAL_STATUS_PENDING,
        1000,
    )
    request = order_pb2.ApproveOrderRequest(order_id=order.order_id, note="fine")
    for metadata, reason in [
        (approver("approver-2", "acct-other"), "NOT_APPROVER"),  # another account's approver
        (approver("buyer-1", account), "NOT_APPROVER"),  # the buyer themself
        (metadata_for("b2b_buyer", "buyer-2", account), "ROLE_REQUIRED"),
        (shop.customer("buyer-1"), "ROLE_REQUIRED"),
        (SERVICE, "ROLE_REQUIRED"),
    ]:
        error = await shop.fails(shop.stub.ApproveOrder(request, metadata=metadata))
        assert (error.code, error.reason) == (PERMISSION_DENIED, reason)
    await unchanged(shop, order)

    approved = (await shop.stub.ApproveOrder(request, metadata=approver("approver-1", account))).order
    assert (approved.status, approved.approval.status, approved.approval.decided_by, approved.approval.note) == (
        S.ORDER_STATUS_CONFIRMED,
        S.APPROVAL_STATUS_APPROVED,
        "approver-1",
        "fine",
    )
    assert approved.approval.decided_at.seconds > 0
    again = (await shop.stub.ApproveOrder(request, metadata=approver("approver-3", account))).order
    assert again == approved
    reject = order_pb2.RejectOrderRequest(order_id=order.order_id, note="no")
    error = await shop.fails(shop.stub.RejectOrder(reject, metadata=approver("approver-1", account)))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "ORDER_NOT_PENDING_APPROVAL")


async def test_an_approver_rejects_and_the_order_is_cancelled(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await shop.place(customer_id="buyer-1", account_id=account, approval_limit=1000)
    missing_note = await shop.fails(
        shop.stub.RejectOrder(order_pb2.RejectOrderRequest(order_id=order.order_id), metadata=approver("a", account))
    )
    assert (missing_note.code, [v.field for v in missing_note.violations]) == (INVALID_ARGUMENT, ["note"])
    reject = order_pb2.RejectOrderRequest(order_id=order.order_id, note="over budget")
    other = await shop.fails(shop.stub.RejectOrder(reject, metadata=approver("a", "acct-other")))
    assert other.code is PERMISSION_DENIED
    await unchanged(shop, order)

    rejected = (await shop.stub.RejectOrder(reject, metadata=approver("approver-1", account))).order
    assert (rejected.status, rejected.cancellation_reason, rejected.approval.status, rejected.payment_status) == (
        S.ORDER_STATUS_CANCELLED,
        S.CANCELLATION_REASON_APPROVAL_REJECTED,
        S.APPROVAL_STATUS_REJECTED,
        S.PAYMENT_STATUS_VOIDED,
    )
    assert (await shop.stub.RejectOrder(reject, metadata=approver("approver-1", account))).order == rejected
    approve = order_pb2.ApproveOrderRequest(order_id=order.order_id)
    error = await shop.fails(shop.stub.ApproveOrder(approve, metadata=approver("approver-1", account)))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "ORDER_NOT_PENDING_APPROVAL")


async def test_approving_an_order_without_a_pending_approval_is_refused(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await shop.place(account_id=account)
    approve = order_pb2.ApproveOrderRequest(order_id=order.order_id)
    error = await shop.fails(shop.stub.ApproveOrder(approve, metadata=approver("approver-1", account)))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "ORDER_NOT_PENDING_APPROVAL")
    missing = await shop.fails(
        shop.stub.ApproveOrder(order_pb2.ApproveOrderRequest(order_id=shop.new_id()), metadata=ADMIN)
    )
    assert missing.code is grpc.StatusCode.NOT_FOUND


async def test_concurrent_approve_and_reject_decide_once(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await shop.place(account_id=account, approval_limit=10, invoice=True)
    who = approver("approver-1", account)
    approve = order_pb2.ApproveOrderRequest(order_id=order.order_id)
    reject = order_pb2.RejectOrderRequest(order_id=order.order_id, note="no")
    calls: list[Awaitable[object]] = []
    for _ in range(3):
        calls.append(shop.stub.ApproveOrder(approve, metadata=who))
        calls.append(shop.stub.RejectOrder(reject, metadata=who))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    final = await shop.get(order.order_id, full=True)
    decided = [h.change for h in final.history if h.change in (S.ORDER_CHANGE_APPROVED, S.ORDER_CHANGE_REJECTED)]
    assert len(decided) == 1 and final.version == 2
    failures = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert all(f.code() is FAILED_PRECONDITION for f in failures) and len(failures) == 3


# --- cancellation --------------------------------------------------------------------------------------------


async def test_a_customer_cancels_their_own_confirmed_order(shop: Shop) -> None:
    alice = shop.new_id("alice-")
    order = await shop.place(customer_id=alice)
    for metadata, reason, code in [
        (shop.customer("bob"), S.CANCELLATION_REASON_CUSTOMER_REQUEST, grpc.StatusCode.NOT_FOUND),
        (shop.customer(alice), S.CANCELLATION_REASON_MERCHANT, INVALID_ARGUMENT),
        (shop.customer(alice), S.CANCELLATION_REASON_UNSPECIFIED, INVALID_ARGUMENT),
    ]:
        error = await shop.fails(shop.cancel(order.order_id, reason, metadata))
        assert error.code is code
    await unchanged(shop, order)

    cancelled = await shop.cancel(order.order_id, S.CANCELLATION_REASON_CUSTOMER_REQUEST, shop.customer(alice))
    assert (cancelled.status, cancelled.fulfilment_status, cancelled.payment_status, cancelled.version) == (
        S.ORDER_STATUS_CANCELLED,
        S.FULFILMENT_STATUS_NOT_REQUIRED,
        S.PAYMENT_STATUS_VOIDED,
        2,
    )
    again = await shop.cancel(order.order_id, S.CANCELLATION_REASON_CUSTOMER_REQUEST, shop.customer(alice))
    assert again == cancelled


async def test_b2b_colleagues_see_but_do_not_cancel_each_others_orders(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await shop.place(customer_id="buyer-1", account_id=account, invoice=True)
    colleague = metadata_for("b2b_buyer", "buyer-2", account)
    error = await shop.fails(shop.cancel(order.order_id, S.CANCELLATION_REASON_CUSTOMER_REQUEST, colleague))
    assert (error.code, error.reason) == (PERMISSION_DENIED, "NOT_ORDER_OWNER")
    own = metadata_for("b2b_buyer", "buyer-1", account)
    cancelled = await shop.cancel(order.order_id, S.CANCELLATION_REASON_CUSTOMER_REQUEST, own)
    assert (cancelled.status, cancelled.payment_status) == (S.ORDER_STATUS_CANCELLED, S.PAYMENT_STATUS_INVOICED)


async def test_orders_with_fulfilments_cannot_be_cancelled(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-P": (2, 100)})
    await shop.capture(order.order_id)
    partial = await shop.fulfil(order, {0: 1})
    for current in (partial, await shop.fulfil(partial)):
        error = await shop.fails(shop.cancel(order.order_id))
        assert (error.code, error.reason) == (FAILED_PRECONDITION, "ORDER_NOT_CANCELLABLE")
        assert error.metadata["status"] in ("partially_fulfilled", "fulfilled")
        await unchanged(shop, await shop.get(current.order_id))


# --- fulfilment ----------------------------------------------------------------------------------------------


async def test_partial_then_full_fulfilment(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-F1": (3, 100), "SKU-F2": (1, 200)})
    request = order_pb2.FulfilOrderRequest(
        order_id=order.order_id,
        request_id=shop.new_id(),
        lines=[order_pb2.LineQuantity(line_id=order.lines[0].line_id, quantity=2)],
        location_id="wh-1",
        carrier="DHL",
        tracking_number="T-1",
    )
    first = await shop.stub.FulfilOrder(request, metadata=ADMIN)
    assert (first.order.status, first.order.fulfilment_status) == (
        S.ORDER_STATUS_PARTIALLY_FULFILLED,
        S.FULFILMENT_STATUS_PARTIALLY_FULFILLED,
    )
    assert [line.fulfilled_quantity for line in first.order.lines] == [2, 0]
    assert (first.fulfilment.fulfilment_id, first.fulfilment.carrier) == (request.request_id, "DHL")
    # The first shipment captures the authorised payment (captured at fulfilment), after the call.
    await eventually(lambda: _payment_is(shop, order.order_id, S.PAYMENT_STATUS_CAPTURED))
    captured = await shop.get(order.order_id)
    assert captured.payment.captured_amount.amount == order.totals.total.amount
    repeat = await shop.stub.FulfilOrder(request, metadata=ADMIN)
    assert repeat.fulfilment == first.fulfilment and repeat.order.version == captured.version

    request.tracking_number = "T-other"
    reused = await shop.fails(shop.stub.FulfilOrder(request, metadata=ADMIN))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    too_many = order_pb2.FulfilOrderRequest(
        order_id=order.order_id,
        request_id=shop.new_id(),
        lines=[
            order_pb2.LineQuantity(line_id=order.lines[0].line_id, quantity=2),
            order_pb2.LineQuantity(line_id=str(uuid.uuid4()), quantity=1),
        ],
    )
    error = await shop.fails(shop.stub.FulfilOrder(too_many, metadata=ADMIN))
    assert error.code is INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"lines[0].quantity", "lines[1].line_id"}
    await unchanged(shop, captured)

    done = await shop.fulfil(captured)
    assert (done.status, done.fulfilment_status) == (S.ORDER_STATUS_FULFILLED, S.FULFILMENT_STATUS_FULFILLED)
    assert [line.fulfilled_quantity for line in done.lines] == [3, 1] and len(done.fulfilments) == 2
    assert (await shop.effects(order.order_id)) == {"capture": ("succeeded", 1)}  # captured once


async def _payment_is(shop: Shop, order_id: str, status: int) -> bool:
    return (await shop.get(order_id)).payment_status == status


async def test_fulfilment_is_refused_for_held_and_cancelled_orders_and_for_customers(shop: Shop) -> None:
    held = await shop.place(fraud_review_id="rev-f")
    cancelled = await shop.cancel((await shop.place()).order_id)
    for order in (held, cancelled):
        error = await shop.fails(shop.fulfil(order))
        assert (error.code, error.reason) == (FAILED_PRECONDITION, "ORDER_NOT_FULFILLABLE")
    request = order_pb2.FulfilOrderRequest(
        order_id=held.order_id,
        request_id=shop.new_id(),
        lines=[order_pb2.LineQuantity(line_id=held.lines[0].line_id, quantity=1)],
    )
    denied = await shop.fails(shop.stub.FulfilOrder(request, metadata=shop.customer(held.customer_id)))
    assert denied.code is PERMISSION_DENIED
    bad = order_pb2.FulfilOrderRequest(order_id="x", request_id="", lines=[order_pb2.LineQuantity(line_id="y")])
    invalid = await shop.fails(shop.stub.FulfilOrder(bad, metadata=ADMIN))
    assert {v.field for v in invalid.violations} == {
        "order_id",
        "request_id",
        "lines[0].line_id",
        "lines[0].quantity",
    }


async def test_concurrent_fulfilments_never_ship_more_than_ordered(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-C": (3, 100), "SKU-D": (1, 100)})
    await shop.capture(order.order_id)
    line_id = order.lines[0].line_id

    def ship_one() -> Any:
        request = order_pb2.FulfilOrderRequest(
            order_id=order.order_id,
            request_id=shop.new_id(),
            lines=[order_pb2.LineQuantity(line_id=line_id, quantity=1)],
        )
        return shop.stub.FulfilOrder(request, metadata=ADMIN)

    outcomes = await asyncio.gather(*(ship_one() for _ in range(6)), return_exceptions=True)

    assert sum(not isinstance(o, Exception) for o in outcomes) == 3
    assert all(o.code() is INVALID_ARGUMENT for o in outcomes if isinstance(o, grpc.aio.AioRpcError))
    final = await shop.get(order.order_id)
    assert (final.status, final.lines[0].fulfilled_quantity, len(final.fulfilments)) == (
        S.ORDER_STATUS_PARTIALLY_FULFILLED,
        3,
        3,
    )


# --- payment ------------------------------------------------------------------------------------------------


async def test_capture_payment(shop: Shop) -> None:
    order = await shop.place()
    captured = await shop.capture(order.order_id)
    assert (captured.payment_status, captured.payment.captured_amount.amount, captured.version) == (
        S.PAYMENT_STATUS_CAPTURED,
        order.totals.total.amount,
        2,
    )
    authorisation = await shop.sandbox.authorization(order.payment.authorisation_id)
    assert (authorisation["status"], authorisation["amount_captured"]) == ("captured", order.totals.total.amount)
    assert await shop.capture(order.order_id) == captured
    invoiced = await shop.place(account_id="acct-1", invoice=True)
    error = await shop.fails(shop.capture(invoiced.order_id))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE")
    voided = await shop.cancel((await shop.place()).order_id)
    error = await shop.fails(shop.capture(voided.order_id))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE")
    denied = await shop.fails(
        shop.stub.CapturePayment(
            order_pb2.CapturePaymentRequest(order_id=order.order_id), metadata=shop.customer(order.customer_id)
        )
    )
    assert denied.code is PERMISSION_DENIED


async def test_a_capture_the_provider_refuses_is_reported_and_changes_nothing(shop: Shop) -> None:
    order = await shop.place(authorisation=("pm_gone", "auth_does_not_exist"))
    error = await shop.fails(shop.capture(order.order_id))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "PAYMENT_CAPTURE_FAILED")
    await unchanged(shop, order)
    assert (await shop.effects(order.order_id))["capture"][0] == "failed"


async def test_refunds_are_bounded_by_the_captured_amount(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-R": (2, 1000)}, shipping=0)
    not_captured = await shop.fails(shop.refund(order.order_id, 100))
    assert (not_captured.code, not_captured.reason) == (FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED")
    await shop.capture(order.order_id)
    shipped = await shop.fulfil(await shop.get(order.order_id))
    before = await shop.counts()

    too_much = await shop.fails(shop.refund(order.order_id, 2001))
    assert (too_much.code, too_much.reason, too_much.metadata["refundable"]) == (
        FAILED_PRECONDITION,
        "REFUND_EXCEEDS_CAPTURED",
        "2000",
    )
    bad = await shop.fails(shop.refund(order.order_id, 0, reason=""))
    assert {v.field for v in bad.violations} == {"amount.amount", "reason"}
    currency = order_pb2.RefundOrderRequest(order_id=order.order_id, request_id=shop.new_id(), reason="r")
    currency.amount.CopyFrom(shop.money(100, "USD"))
    wrong = await shop.fails(shop.stub.RefundOrder(currency, metadata=ADMIN))
    assert [v.field for v in wrong.violations] == ["amount.currency"]
    denied = await shop.fails(
        shop.stub.RefundOrder(
            order_pb2.RefundOrderRequest(order_id=order.order_id, request_id="r-1", reason="r"),
            metadata=shop.customer(order.customer_id),
        )
    )
    assert denied.code is PERMISSION_DENIED
    assert await shop.counts() == before
    await unchanged(shop, shipped)

    line = order_pb2.LineQuantity(line_id=order.lines[0].line_id, quantity=1)
    part = await shop.refund(order.order_id, 600, lines=[line], request_id="refund-1")
    assert (part.order.status, part.order.payment_status, part.order.payment.refunded_amount.amount) == (
        S.ORDER_STATUS_FULFILLED,
        S.PAYMENT_STATUS_PARTIALLY_REFUNDED,
        600,
    )
    assert part.refund.provider_refund_id  # the provider confirmed it during the call
    assert part.order.lines[0].refunded_quantity == 1
    assert await shop.refund(order.order_id, 600, lines=[line], request_id="refund-1") == part
    rest = await shop.refund(order.order_id)
    assert (rest.order.status, rest.order.payment_status, rest.refund.amount.amount) == (
        S.ORDER_STATUS_REFUNDED,
        S.PAYMENT_STATUS_REFUNDED,
        1400,
    )
    authorisation = await shop.sandbox.authorization(order.payment.authorisation_id)
    assert authorisation["amount_refunded"] == 2000 and len(authorisation["refunds"]) == 2
    nothing_left = await shop.fails(shop.refund(order.order_id, 1))
    assert nothing_left.reason == "ORDER_NOT_REFUNDABLE"


async def test_concurrent_refunds_never_exceed_the_captured_amount(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-CR": (1, 1000)}, shipping=0)
    await shop.capture(order.order_id)
    outcomes = await asyncio.gather(*(shop.refund(order.order_id, 400) for _ in range(5)), return_exceptions=True)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 2
    final = await shop.get(order.order_id)
    assert (final.payment.refunded_amount.amount, final.payment_status) == (800, S.PAYMENT_STATUS_PARTIALLY_REFUNDED)
    await eventually(lambda: _refunded_at_provider(shop, order.payment.authorisation_id, 800))


async def _refunded_at_provider(shop: Shop, authorisation_id: str, amount: int) -> bool:
    return bool((await shop.sandbox.authorization(authorisation_id))["amount_refunded"] == amount)


# --- completion and the full history ----------------------------------------------------------------------


async def test_the_whole_life_of_an_order_is_in_its_history(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-H": (2, 500)}, shipping=0)
    await shop.capture(order.order_id)
    await shop.fulfil(await shop.get(order.order_id), {0: 1})
    await shop.fulfil(await shop.get(order.order_id))
    # The return window passed (the sweeper completes orders fulfilled before it).
    await shop.sql(
        "UPDATE orders SET fulfilled_at = fulfilled_at - interval '40 days', version = version + 1 WHERE id = :o",
        o=order.order_id,
    )
    orders = Orders(shop.runtime.db, shop.runtime.relay, capture_on_fulfilment=True)
    assert await orders.complete_due(timedelta(days=30), 100) >= 1
    await shop.refund(order.order_id, 300)
    await shop.refund(order.order_id)

    final = await shop.get(order.order_id, full=True)
    history = [
        (h.sequence, h.change, h.previous_status, h.status, h.payment_status, h.fulfilment_status, h.actor.role)
        for h in final.history
    ]
    assert history == [
        (
            1,
            S.ORDER_CHANGE_CREATED,
            S.ORDER_STATUS_UNSPECIFIED,
            S.ORDER_STATUS_CONFIRMED,
            S.PAYMENT_STATUS_AUTHORISED,
            S.FULFILMENT_STATUS_UNFULFILLED,
            "service",
        ),
        (
            2,
            S.ORDER_CHANGE_PAYMENT_CAPTURED,
            S.ORDER_STATUS_CONFIRMED,
            S.ORDER_STATUS_CONFIRMED,
            S.PAYMENT_STATUS_CAPTURED,
            S.FULFILMENT_STATUS_UNFULFILLED,
            "service",
        ),
        (
            3,
            S.ORDER_CHANGE_FULFILLED,
            S.ORDER_STATUS_CONFIRMED,
            S.ORDER_STATUS_PARTIALLY_FULFILLED,
            S.PAYMENT_STATUS_CAPTURED,
            S.FULFILMENT_STATUS_PARTIALLY_FULFILLED,
            "admin",
        ),
        (
            4,
            S.ORDER_CHANGE_FULFILLED,
            S.ORDER_STATUS_PARTIALLY_FULFILLED,
            S.ORDER_STATUS_FULFILLED,
            S.PAYMENT_STATUS_CAPTURED,
            S.FULFILMENT_STATUS_FULFILLED,
            "admin",
        ),
        (
            5,
            S.ORDER_CHANGE_COMPLETED,
            S.ORDER_STATUS_FULFILLED,
            S.ORDER_STATUS_COMPLETED,
            S.PAYMENT_STATUS_CAPTURED,
            S.FULFILMENT_STATUS_FULFILLED,
            "service",
        ),
        (
            6,
            S.ORDER_CHANGE_REFUNDED,
            S.ORDER_STATUS_COMPLETED,
            S.ORDER_STATUS_COMPLETED,
            S.PAYMENT_STATUS_PARTIALLY_REFUNDED,
            S.FULFILMENT_STATUS_FULFILLED,
            "admin",
        ),
        (
            7,
            S.ORDER_CHANGE_REFUNDED,
            S.ORDER_STATUS_COMPLETED,
            S.ORDER_STATUS_REFUNDED,
            S.PAYMENT_STATUS_REFUNDED,
            S.FULFILMENT_STATUS_FULFILLED,
            "admin",
        ),
    ]
    assert final.version == 8  # the SQL update above counted as one change


# --- the database backs the state machine ------------------------------------------------------------------


async def test_the_database_allows_exactly_the_domains_transitions(shop: Shop) -> None:
    checks = [
        ("order", a.value, b.value, machine.order_may_become(a, b) or a is b)
        for a, b in itertools.product(OrderStatus, OrderStatus)
    ]
    checks += [
        ("payment", a.value, b.value, machine.payment_may_become(a, b) or a is b)
        for a, b in itertools.product(PaymentStatus, PaymentStatus)
    ]
    checks += [
        ("fulfilment", a.value, b.value, machine.fulfilment_may_become(a, b) or a is b)
        for a, b in itertools.product(FulfilmentStatus, FulfilmentStatus)
    ]
    async with shop.runtime.db.connect() as conn:
        for kind, a, b, expected in checks:
            allowed = (
                await conn.execute(sa.text("SELECT order_transition_allowed(:k, :a, :b)"), {"k": kind, "a": a, "b": b})
            ).scalar_one()
            assert allowed == expected, (kind, a, b)


async def test_the_database_refuses_forbidden_transitions_and_stale_versions(shop: Shop) -> None:
    cancelled = await shop.cancel((await shop.place()).order_id)
    statements = [
        "UPDATE orders SET status = 'confirmed', fulfilment_status = 'unfulfilled', cancellation_reason = NULL, "
        "version = version + 1 WHERE id = :o",  # out of a terminal status
        "UPDATE orders SET payment_status = 'authorised', version = version + 1 WHERE id = :o",
        "UPDATE orders SET email = 'x@example.com' WHERE id = :o",  # the version must grow
        "UPDATE orders SET status = 'bogus', version = version + 1 WHERE id = :o",
        "UPDATE orders SET refunded_amount = 1, version = version + 1 WHERE id = :o",  # nothing was captured
    ]
    for statement in statements:
        try:
            await shop.sql(statement, o=cancelled.order_id)
        except DBAPIError:
            continue
        raise AssertionError(f"the database accepted: {statement}")
    await unchanged(shop, cancelled)
