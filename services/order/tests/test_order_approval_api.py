"""Approval chains over a real gRPC channel: CreateOrder with a chain, decisions step by step with
their history entries and events, the approvers' inboxes (ListPendingApprovals), and bad chains."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from shop.common.v1 import common_pb2
from shop.order.v1 import events_pb2, order_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

S = order_pb2
SERVICE = metadata_for("service")


def approver(user: str, account: str) -> Any:
    return metadata_for("b2b_approver", user, account)


def chain(*steps: tuple[str, list[str], int], hold_days: int = 0) -> common_pb2.ApprovalChain:
    return common_pb2.ApprovalChain(
        steps=[
            common_pb2.ApprovalStep(name=name, rule_id=f"rule-{i}", approvers=approvers, quorum=quorum)
            for i, (name, approvers, quorum) in enumerate(steps)
        ],
        hold_days=hold_days,
    )


async def place(shop: Shop, account: str, approval_chain: common_pb2.ApprovalChain) -> order_pb2.Order:
    request = shop.request(customer_id="buyer-1", account_id=account, invoice=True)
    request.approval_chain.CopyFrom(approval_chain)
    return (await shop.stub.CreateOrder(request, metadata=SERVICE)).order


async def inbox(shop: Shop, user: str, account: str) -> list[str]:
    response = await shop.stub.ListPendingApprovals(
        order_pb2.ListPendingApprovalsRequest(), metadata=approver(user, account)
    )
    return [order.order_id for order in response.orders]


async def test_a_two_step_chain_with_a_quorum_through_the_api(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await place(shop, account, chain(("department head", ["head"], 1), ("finance", ["f1", "f2", "f3"], 2)))
    assert order.status == S.ORDER_STATUS_PENDING_APPROVAL
    progress = order.approval_progress
    assert [(s.name, list(s.approvers), s.quorum) for s in progress.steps] == [
        ("department head", ["head"], 1),
        ("finance", ["f1", "f2", "f3"], 2),
    ]
    assert progress.current_step == 0
    assert await inbox(shop, "head", account) == [order.order_id]
    assert await inbox(shop, "f1", account) == []

    # Finance's turn has not come; an approver of another account is refused too.
    for metadata in (approver("f1", account), approver("head", "acct-other")):
        error = await shop.fails(
            shop.stub.ApproveOrder(order_pb2.ApproveOrderRequest(order_id=order.order_id), metadata=metadata)
        )
        assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_APPROVER")

    approve = order_pb2.ApproveOrderRequest(order_id=order.order_id, note="ok")
    after_head = (await shop.stub.ApproveOrder(approve, metadata=approver("head", account))).order
    again = (await shop.stub.ApproveOrder(approve, metadata=approver("head", account))).order
    assert again.version == after_head.version  # a repeat changes nothing
    assert after_head.status == S.ORDER_STATUS_PENDING_APPROVAL
    assert after_head.approval_progress.current_step == 1
    assert after_head.approval_progress.steps[0].state == S.APPROVAL_STEP_STATE_APPROVED
    assert await inbox(shop, "head", account) == []
    assert await inbox(shop, "f2", account) == [order.order_id]

    one = (await shop.stub.ApproveOrder(approve, metadata=approver("f2", account))).order
    assert one.status == S.ORDER_STATUS_PENDING_APPROVAL
    assert await inbox(shop, "f2", account) == []
    assert await inbox(shop, "f3", account) == [order.order_id]
    done = (await shop.stub.ApproveOrder(approve, metadata=approver("f3", account))).order
    assert done.status == S.ORDER_STATUS_CONFIRMED
    assert await inbox(shop, "f1", account) == []

    full = await shop.get(order.order_id, full=True)
    assert [(e.change, e.actor.id) for e in full.history] == [
        (S.ORDER_CHANGE_CREATED, full.history[0].actor.id),
        (S.ORDER_CHANGE_APPROVAL_DECIDED, "head"),
        (S.ORDER_CHANGE_APPROVAL_DECIDED, "f2"),
        (S.ORDER_CHANGE_APPROVED, "f3"),
    ]
    decided = await shop.sql(
        "SELECT payload FROM outbox WHERE subject = 'shop.order.approval_decided'",
    )
    events = [events_pb2.OrderApprovalDecided.FromString(row.payload) for row in decided]
    mine = sorted((e for e in events if e.order_id == order.order_id), key=lambda e: e.decision.at.ToNanoseconds())
    assert [(e.step, e.decision.approver, e.step_state) for e in mine] == [
        (0, "head", S.APPROVAL_STEP_STATE_APPROVED),
        (1, "f2", S.APPROVAL_STEP_STATE_PENDING),
        (1, "f3", S.APPROVAL_STEP_STATE_APPROVED),
    ]
    assert mine[-1].status == S.ORDER_STATUS_CONFIRMED


async def test_a_rejection_at_step_two_cancels(shop: Shop) -> None:
    account = shop.new_id("acct-")
    order = await place(shop, account, chain(("head", ["head"], 1), ("finance", ["cfo"], 1)))
    await shop.stub.ApproveOrder(
        order_pb2.ApproveOrderRequest(order_id=order.order_id), metadata=approver("head", account)
    )
    reject = order_pb2.RejectOrderRequest(order_id=order.order_id, note="over budget")
    rejected = (await shop.stub.RejectOrder(reject, metadata=approver("cfo", account))).order
    assert (rejected.status, rejected.cancellation_reason) == (
        S.ORDER_STATUS_CANCELLED,
        S.CANCELLATION_REASON_APPROVAL_REJECTED,
    )
    assert rejected.approval_progress.steps[1].state == S.APPROVAL_STEP_STATE_REJECTED
    assert (await shop.stub.RejectOrder(reject, metadata=approver("cfo", account))).order == rejected
    assert await inbox(shop, "cfo", account) == []


async def test_an_open_step_waits_for_any_approver_but_the_buyer(shop: Shop) -> None:
    account = shop.new_id("acct-")
    legacy = await shop.place(customer_id="buyer-1", account_id=account, approval_limit=100, invoice=True)
    assert [s.name for s in legacy.approval_progress.steps] == ["approver"]
    assert await inbox(shop, "anyone", account) == [legacy.order_id]
    assert await inbox(shop, "buyer-1", account) == []  # never their own order
    assert await inbox(shop, "anyone", shop.new_id("acct-")) == []


async def test_only_approvers_list_their_own_inbox(shop: Shop) -> None:
    account = shop.new_id("acct-")
    request = order_pb2.ListPendingApprovalsRequest(approver_id="someone-else")
    for metadata in (approver("me", account), metadata_for("b2b_buyer", "me", account), shop.customer("me")):
        error = await shop.fails(shop.stub.ListPendingApprovals(request, metadata=metadata))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
    admin = order_pb2.ListPendingApprovalsRequest(approver_id="x", account_id=account)
    assert not (await shop.stub.ListPendingApprovals(admin, metadata=metadata_for("admin"))).orders


async def test_a_bad_chain_is_refused_and_changes_nothing(shop: Shop) -> None:
    account = shop.new_id("acct-")
    before = await shop.counts()
    bad = chain(("", ["a", "a"], 3), hold_days=-1)
    request = shop.request(customer_id="buyer-1", account_id=account, invoice=True)
    request.approval_chain.CopyFrom(bad)
    error = await shop.fails(shop.stub.CreateOrder(request, metadata=SERVICE))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in error.violations}
    assert {"approval_chain.hold_days", "approval_chain.steps[0].name", "approval_chain.steps[0].approvers"} <= fields
    consumer = shop.request(customer_id="cus-1", invoice=False)
    consumer.approval_chain.CopyFrom(chain(("head", ["head"], 1)))
    error = await shop.fails(shop.stub.CreateOrder(consumer, metadata=SERVICE))
    assert "approval_chain" in {v.field for v in error.violations}
    assert await shop.counts() == before
