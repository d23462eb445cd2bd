"""A two-step approval chain through the gateway on the launched stack: a company's rules (the admin
routes) ask the department head, then finance; each approver's GET /v1/approvals shows an order only
while it waits for THEM; order A is approved by the head and rejected by finance (cancelled, its stock
released, its authorisation voided: nothing charged); order B is approved by both and confirmed; the
order's history lists every decision."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx

from shop.order.v1 import order_pb2
from shop_devstack.harness import Stack

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import B2bVariants, Backstage, NewShopper, Shopper


def _admin(http: httpx.Client, stack: Stack) -> dict[str, str]:
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json={"username": "system-admin", "role": "admin"})
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


def _inbox(approver: Shopper) -> list[str]:
    listed = approver.get("/v1/approvals")
    assert listed.status_code == 200, listed.text
    return [o["order_id"] for o in listed.json()["orders"]]


def _place(buyer: Shopper) -> tuple[str, str]:
    placed = buyer.checkout(buyer.new_card())
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "pending_approval" and answer["order_id"], answer
    return answer["order_id"], answer["checkout_id"]


def test_a_two_step_chain_one_rejection_and_one_approval(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, backstage: Backstage, b2b_variants: B2bVariants
) -> None:
    account = f"chain-{uuid.uuid4().hex[:8]}"
    buyer = new_shopper("chain-buyer", role="b2b_buyer", claims={"account_id": account})
    head = new_shopper("chain-head", role="b2b_approver", claims={"account_id": account})
    cfo = new_shopper("chain-cfo", role="b2b_approver", claims={"account_id": account})
    admin = _admin(http, stack)
    rules = f"{stack.gateway_url}/v1/admin/companies/{account}/approval-rules"
    for position, (name, approver) in enumerate((("department head", head), ("finance", cfo)), start=1):
        rule = {
            "name": name,
            "position": position,
            "min_total": {"amount": 100, "currency": "USD"},
            "approvers": [approver.username],
            "hold_days": 30,
        }
        created = http.post(rules, json=rule, headers={**admin, "Idempotency-Key": f"{account}-rule-{position}"})
        assert created.status_code == 201, created.text
    variant = b2b_variants(buyer, 10)[0]
    sku = variant["sku"]
    stock_before = backstage.stock(sku)
    buyer.add_to_cart(sku, 1)

    # Order A: the head approves, finance rejects.
    order_a, checkout_a = _place(buyer)
    waiting = buyer.get(f"/v1/orders/{order_a}").json()
    steps = waiting["approval"]["steps"]
    assert [(s["name"], s["approvers"], s["state"]) for s in steps] == [
        ("department head", [head.username], "pending"),
        ("finance", [cfo.username], "pending"),
    ], waiting
    assert backstage.stock(sku) != stock_before  # reserved while it waits
    assert order_a in _inbox(head) and order_a not in _inbox(cfo)
    assert cfo.post(f"/v1/orders/{order_a}/approve").status_code == 403  # not finance's turn yet
    assert buyer.post(f"/v1/orders/{order_a}/approve").status_code == 403

    first = head.post(f"/v1/orders/{order_a}/approve", {"note": "fine for the team"})
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["approval"]["current_step"]) == ("pending_approval", 1)
    assert head.post(f"/v1/orders/{order_a}/approve").json()["approval"] == first.json()["approval"]  # a repeat
    assert order_a not in _inbox(head) and order_a in _inbox(cfo)

    rejected = cfo.post(f"/v1/orders/{order_a}/reject", {"note": "over the quarter's budget"})
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["cancellation_reason"]) == ("cancelled", "approval_rejected")
    assert order_a not in _inbox(cfo)
    done = backstage.eventually(
        lambda: buyer.get(f"/v1/checkout/{checkout_a}").json(), lambda c: c["status"] in ("completed", "failed")
    )
    assert (done["status"], done["failure"]["code"]) == ("failed", "approval_rejected"), done
    assert backstage.eventually(lambda: backstage.stock(sku), lambda s: s == stock_before)
    authorisation = backstage.eventually(
        lambda: backstage.authorization(backstage.order(order_a).payment.authorisation_id),
        lambda a: a["status"] == "voided",
    )
    assert authorisation["amount_captured"] == 0, authorisation
    history = [(e.change, e.actor.id, e.note) for e in backstage.order(order_a).history]
    assert (order_pb2.ORDER_CHANGE_APPROVAL_DECIDED, head.username, "fine for the team") in history
    assert (order_pb2.ORDER_CHANGE_REJECTED, cfo.username, "over the quarter's budget") in history

    # Order B (the cart was kept): both approve, it is confirmed and the checkout completes.
    order_b, checkout_b = _place(buyer)
    assert order_b in _inbox(head) and order_b not in _inbox(cfo)
    assert head.post(f"/v1/orders/{order_b}/approve").status_code == 200
    assert order_b not in _inbox(head) and order_b in _inbox(cfo)
    approved = cfo.post(f"/v1/orders/{order_b}/approve", {"note": "ok"})
    assert approved.status_code == 200, approved.text
    order = approved.json()
    assert order["status"] == "confirmed", order
    decisions = [(d["approver"], d["decision"]) for s in order["approval"]["steps"] for d in s["decisions"]]
    assert decisions == [(head.username, "approve"), (cfo.username, "approve")]
    assert order_b not in _inbox(head) + _inbox(cfo)
    done = backstage.eventually(
        lambda: buyer.get(f"/v1/checkout/{checkout_b}").json(), lambda c: c["status"] == "completed"
    )
    changes = [(e.change, e.actor.id) for e in backstage.order(order_b).history]
    assert (order_pb2.ORDER_CHANGE_APPROVAL_DECIDED, head.username) in changes
    assert (order_pb2.ORDER_CHANGE_APPROVED, cfo.username) in changes
