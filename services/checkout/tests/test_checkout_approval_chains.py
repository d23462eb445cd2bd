"""B2B approval chains at checkout: the account's rules (customers) resolved after the quote with the
lines' categories (catalog) and the buyer's cost centre, persisted with the checkout and handed to
the order; both of a buyer's limits (per order and per period) count; the hold lasts the chain's
hold_days while the stock stays reserved only within APPROVAL_STOCK_HOLD_SECONDS."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Buyer, Shop

C = checkout_pb2
ADMIN = metadata_for("admin")
DAY = 24 * 3600


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


async def company(shop: Shop, *rules: pb.ApprovalRuleSpec) -> tuple[Buyer, str]:
    """A company with a buyer, the approvers "head-<id>" and "cfo-<id>", and these rules."""
    account = f"co-{uuid.uuid4().hex[:10]}"
    await shop.customers.CreateCompany(
        pb.CreateCompanyRequest(
            request_id=f"create-{account}",
            account_id=account,
            name="Acme",
            credit_limit=usd(100_000_000),
            cost_centres=[pb.CostCentre(code="OPS", name="Operations"), pb.CostCentre(code="IT", name="IT")],
        ),
        metadata=ADMIN,
    )
    buyer = shop.b2b_buyer(account)
    suffix = account[3:]
    members = {buyer.customer_id: pb.MEMBER_ROLE_BUYER, f"head-{suffix}": pb.MEMBER_ROLE_APPROVER}
    members[f"cfo-{suffix}"] = pb.MEMBER_ROLE_APPROVER
    for user_id, role in members.items():
        add = pb.AddCompanyMemberRequest(request_id=f"add-{user_id}", account_id=account, user_id=user_id, role=role)
        await shop.customers.AddCompanyMember(add, metadata=ADMIN)
    for rule in rules:
        spec = pb.ApprovalRuleSpec()
        spec.CopyFrom(rule)
        spec.approvers[:] = [a.replace("{id}", suffix) for a in rule.approvers]
        await shop.customers.CreateApprovalRule(
            pb.CreateApprovalRuleRequest(request_id=uuid.uuid4().hex, account_id=account, rule=spec), metadata=ADMIN
        )
    return buyer, suffix


def two_steps(**finance: object) -> tuple[pb.ApprovalRuleSpec, pb.ApprovalRuleSpec]:
    head = pb.ApprovalRuleSpec(name="department head", position=1, min_total=usd(1_000), approvers=["head-{id}"])
    cfo = pb.ApprovalRuleSpec(name="finance", position=2, min_total=usd(10_000), approvers=["cfo-{id}"], **finance)  # type: ignore[arg-type]
    return head, cfo


def approver(user: str, buyer: Buyer) -> tuple[tuple[str, str], ...]:
    return metadata_for("b2b_approver", customer_id=user, account_id=buyer.account_id)


async def test_the_chain_is_resolved_persisted_and_decided_step_by_step(shop: Shop) -> None:
    buyer, suffix = await company(shop, *two_steps(hold_days=90))
    sku = await shop.sku(price=4000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 3})
    before = time.time()
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card()), buyer)

    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed
    held = await shop.checkout(placed.checkout_id)
    assert held.approval_required
    # The chain's 90 days hold the order; the stock only the stock hold (6 days) plus the margin.
    assert 89 * DAY < held.hold_expires_at.seconds - before < 91 * DAY
    get = inventory_pb2.GetReservationRequest(reservation_id=placed.checkout_id)
    reservation = await shop.inventory.GetReservation(get, metadata=ADMIN)
    assert 6 * DAY < reservation.expires_at.seconds - before < 6 * DAY + 2 * 3600
    order = await shop.get_order(placed.order_id)
    progress = order.approval_progress
    assert [(s.name, list(s.approvers)) for s in progress.steps] == [
        ("department head", [f"head-{suffix}"]),
        ("finance", [f"cfo-{suffix}"]),
    ]
    assert progress.hold_days == 90

    approve = order_pb2.ApproveOrderRequest(order_id=placed.order_id)
    await shop.order.ApproveOrder(approve, metadata=approver(f"head-{suffix}", buyer))
    assert (await shop.checkout(placed.checkout_id)).status == C.CHECKOUT_STATUS_PENDING_APPROVAL
    await shop.order.ApproveOrder(approve, metadata=approver(f"cfo-{suffix}", buyer))
    done = await shop.settled(placed.checkout_id)
    assert done.status == C.CHECKOUT_STATUS_COMPLETED and done.payment_captured
    assert await shop.stock(sku) == {shop.warehouse: (7, 0)}


async def test_below_every_rule_and_every_limit_no_approval_is_needed(shop: Shop) -> None:
    buyer, _ = await company(shop, *two_steps())
    sku = await shop.sku(price=500, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card()), buyer)
    assert placed.status == C.CHECKOUT_STATUS_COMPLETED, placed
    assert not (await shop.get_order(placed.order_id)).approval_progress.steps


async def test_a_cost_centre_rule_asks_only_for_its_cost_centre(shop: Shop) -> None:
    rule = pb.ApprovalRuleSpec(name="IT lead", position=1, cost_centre="IT", approvers=["head-{id}"])
    buyer, _ = await company(shop, rule)
    sku = await shop.sku(price=500, stock=10)
    for cost_centre, expected in (("OPS", C.CHECKOUT_STATUS_COMPLETED), ("IT", C.CHECKOUT_STATUS_PENDING_APPROVAL)):
        cart_id = await shop.new_cart(buyer, {sku: 1})
        request = shop.request(cart_id, buyer, payment_method=await shop.card(), cost_centre=cost_centre)
        placed = await shop.place(request, buyer)
        assert placed.status == expected, (cost_centre, placed)


async def test_a_category_rule_asks_for_orders_with_lines_of_its_category(shop: Shop) -> None:
    rule = pb.ApprovalRuleSpec(name="category owner", position=1, category_id=shop.category_id, approvers=["head-{id}"])
    buyer, suffix = await company(shop, rule)
    sku = await shop.sku(price=500, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    placed = await shop.place(shop.request(cart_id, buyer, payment_method=await shop.card()), buyer)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed
    steps = (await shop.get_order(placed.order_id)).approval_progress.steps
    assert [list(s.approvers) for s in steps] == [[f"head-{suffix}"]]


async def test_both_limits_count(shop: Shop) -> None:
    """A monthly limit far away does not hide the per-order limit (and the other way round)."""
    buyer, _ = await company(shop)  # a company without rules: the limits alone decide
    sku = await shop.sku(price=6000, stock=10)
    month = C.APPROVAL_PERIOD_MONTH
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(
        cart_id,
        buyer,
        payment_method=await shop.card(),
        approval_limit=usd(1_000_000),
        approval_period=month,
        order_limit=usd(5_000),
    )
    placed = await shop.place(request, buyer)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed
    steps = (await shop.get_order(placed.order_id)).approval_progress.steps
    assert [(s.name, list(s.approvers)) for s in steps] == [("spending limit", [])]

    buyer, _ = await company(shop)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(
        cart_id,
        buyer,
        payment_method=await shop.card(),
        approval_limit=usd(5_000),
        approval_period=month,
        order_limit=usd(1_000_000),
    )
    assert (await shop.place(request, buyer)).status == C.CHECKOUT_STATUS_PENDING_APPROVAL


async def test_an_account_without_a_company_keeps_the_limit_rule(shop: Shop) -> None:
    buyer = shop.b2b_buyer()  # customers knows no company of this account
    sku = await shop.sku(price=6000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card(), order_limit=usd(5_000))
    placed = await shop.place(request, buyer)
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed
    held = await shop.checkout(placed.checkout_id)
    assert held.hold_expires_at.seconds - time.time() < timedelta(days=4).total_seconds()  # APPROVAL_HOLD_SECONDS


async def _held_then_lapsed(shop: Shop, stub: object, sku: str) -> tuple[Buyer, C.PlaceOrderResponse]:
    """A buyer's order over their limit, held for approval until its 1-second stock hold lapsed."""
    buyer = shop.b2b_buyer()  # no company: the buyer's limit asks for one open step
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card(), order_limit=usd(1_000))
    placed = await shop.place(request, buyer, stub=stub)  # type: ignore[arg-type]
    assert placed.status == C.CHECKOUT_STATUS_PENDING_APPROVAL, placed
    get = inventory_pb2.GetReservationRequest(reservation_id=placed.checkout_id)
    deadline = time.monotonic() + 15
    while (await shop.inventory.GetReservation(get, metadata=ADMIN)).status != inventory_pb2.RESERVATION_STATUS_EXPIRED:
        assert time.monotonic() < deadline, "the reservation did not expire"
        await asyncio.sleep(0.2)
    return buyer, placed


async def test_an_approval_after_the_stock_hold_lapsed_reserves_again_or_cancels(shop: Shop) -> None:
    async with shop.another_checkout(approval_stock_hold_seconds=1, hold_margin_seconds=0) as (_, stub):
        available, gone = await shop.sku(price=6000, stock=3), await shop.sku(price=6000, stock=1)
        first, renewed = await _held_then_lapsed(shop, stub, available)
        second, lapsed = await _held_then_lapsed(shop, stub, gone)
        assert await shop.stock(available) == {shop.warehouse: (3, 0)}  # the stock went back at the expiry
        await shop.set_stock(gone, 0)  # meanwhile sold elsewhere

        for buyer, placed in ((first, renewed), (second, lapsed)):
            approve = order_pb2.ApproveOrderRequest(order_id=placed.order_id)
            await shop.order.ApproveOrder(approve, metadata=shop.approver(buyer))

        # Still in stock: reserved again under the same id, committed, captured.
        done = await shop.settled(renewed.checkout_id)
        assert done.status == C.CHECKOUT_STATUS_COMPLETED and done.payment_captured, done
        assert await shop.stock(available) == {shop.warehouse: (2, 0)}
        get = inventory_pb2.GetReservationRequest(reservation_id=renewed.checkout_id)
        assert (
            await shop.inventory.GetReservation(get, metadata=ADMIN)
        ).status == inventory_pb2.RESERVATION_STATUS_COMMITTED
        # Gone: the order is cancelled with the reason, the authorisation voided, nothing charged.
        failed = await shop.settled(lapsed.checkout_id)
        assert (failed.status, failed.failure.code) == (C.CHECKOUT_STATUS_FAILED, C.FAILURE_CODE_OUT_OF_STOCK), failed
        assert "no longer available" in failed.failure.message
        order = await shop.get_order(lapsed.order_id)
        assert order.status == order_pb2.ORDER_STATUS_CANCELLED
        await shop.authorizations_become(lapsed.checkout_id, [("voided", 0)])
