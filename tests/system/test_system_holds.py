"""Orders that wait for a person, and orders that are refused, over real HTTP with every process running:
fraud review -> an analyst approves -> confirmed and captured; a fraud block -> 422 and nothing left behind;
a B2B order over the buyer's limit -> an approver of the account approves -> confirmed.

The fraud scenarios use realistic inputs, not lowered thresholds: the fraud service's own rules and model
(default settings) decide. Every shopper has its own IP, device and card, so no velocity from earlier tests
adds to a score; the amounts are chosen inside a band where the decision does not depend on the exact price.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop.order.v1 import order_pb2

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import B2bVariants, Backstage, NewShopper, Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

# A high-value order: above the fraud service's USD high amount (1,000.00), well below 3,000.00, in at most
# 20 units per line (more is UNUSUAL_QUANTITY, another rule).
HIGH_VALUE = 220_000
HIGH_VALUE_BAND = range(200_000, 300_000)
US_ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}
GB_ADDRESS = {
    "name": "A. Lovelace",
    "line1": "12 Carnaby St",
    "city": "London",
    "postal_code": "W1F 9PS",
    "country": "GB",
}


def high_value_cart(shopper: Shopper, variant: dict[str, Any]) -> int:
    """Fill the shopper's cart with one line worth about HIGH_VALUE; its total."""
    quantity = math.ceil(HIGH_VALUE / variant["price"]["amount"])
    assert quantity <= 20, variant
    cart = shopper.add_to_cart(variant["sku"], quantity)
    total: int = cart["total"]["amount"]
    assert total in HIGH_VALUE_BAND, cart
    return total


def is_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"]) == (status, code), problem
    return problem


def test_a_held_order_is_confirmed_and_captured_once_an_analyst_approves_its_review(
    new_shopper: NewShopper, backstage: Backstage, pricey_variant: dict[str, Any]
) -> None:
    # An account opened today, a card issued in GB used from an IP in GB, billing and shipping in the US,
    # over 2,000 USD: new account + high amount + IP and card country mismatches -> score ~45, REVIEW.
    shopper = new_shopper("traveller", claims={"customer_since": int(time.time())}, ip_country="GB")
    total = high_value_cart(shopper, pricey_variant)
    card = shopper.new_card("GB")
    authorised_before = backstage.authorizations_made()

    placed = shopper.checkout(card, billing_address=US_ADDRESS)

    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "pending_review" and answer["order_id"], answer
    order_id, checkout_id = answer["order_id"], answer["checkout_id"]
    held = shopper.get(f"/v1/orders/{order_id}").json()
    assert (held["status"], held["payment_status"]) == ("pending_review", "authorised"), held  # held, not captured

    analyst = new_shopper("analyst", role="fraud_analyst")
    queue = analyst.get("/v1/reviews", page_size=100)
    assert queue.status_code == 200, queue.text
    [review] = [r for r in queue.json()["reviews"] if r["checkout_id"] == checkout_id]
    assert (review["status"], review["decision"], review["customer_id"]) == ("open", "review", shopper.username)
    assert 40 <= review["score"] < 75, review  # the default review and block thresholds
    reasons = {reason["code"] for reason in review["reasons"]}
    assert {"new_account", "high_amount", "ip_country_mismatch", "card_country_mismatch"} <= reasons, review
    assert review["amount"] == {"amount": total, "currency": "USD"}
    # The queue is the analysts': the customer can neither read it nor decide.
    assert shopper.get("/v1/reviews").status_code == 403
    assert shopper.post(f"/v1/reviews/{review['review_id']}/approve").status_code == 403

    approved = analyst.post(f"/v1/reviews/{review['review_id']}/approve", {"note": "spoke to the customer"})

    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", analyst.username)
    # The held checkout resumes by event: the order is confirmed, then the payment captured.
    order = backstage.eventually(
        lambda: shopper.get(f"/v1/orders/{order_id}").json(), lambda o: o["payment_status"] == "captured"
    )
    assert order["status"] == "confirmed", order
    done = backstage.eventually(
        lambda: shopper.get(f"/v1/checkout/{checkout_id}").json(), lambda c: c["status"] == "completed"
    )
    assert [s["state"] for s in done["steps"] if s["kind"] == "await_fraud_review"] == ["succeeded"], done
    history = [(h.change, h.status, h.payment_status) for h in backstage.order(order_id).history]
    assert history == [
        (order_pb2.ORDER_CHANGE_CREATED, order_pb2.ORDER_STATUS_PENDING_REVIEW, order_pb2.PAYMENT_STATUS_AUTHORISED),
        (
            order_pb2.ORDER_CHANGE_FRAUD_HOLD_RELEASED,
            order_pb2.ORDER_STATUS_CONFIRMED,
            order_pb2.PAYMENT_STATUS_AUTHORISED,
        ),
        (order_pb2.ORDER_CHANGE_PAYMENT_CAPTURED, order_pb2.ORDER_STATUS_CONFIRMED, order_pb2.PAYMENT_STATUS_CAPTURED),
    ]
    # One authorisation, made before the hold and captured after it.
    assert backstage.authorizations_made() - authorised_before == 1
    authorisation = backstage.authorization(backstage.order(order_id).payment.authorisation_id)
    assert (authorisation["status"], authorisation["amount_captured"]) == ("captured", total), authorisation
    assert authorisation["metadata"]["checkout_id"] == checkout_id


def test_a_rejected_review_cancels_the_order_voids_the_payment_and_returns_the_stock(
    new_shopper: NewShopper, backstage: Backstage, pricey_variant: dict[str, Any]
) -> None:
    # The same profile as the approved review above: REVIEW; this time the analyst says no.
    shopper = new_shopper("rejected", claims={"customer_since": int(time.time())}, ip_country="GB")
    high_value_cart(shopper, pricey_variant)
    card = shopper.new_card("GB")
    stock_before = backstage.stock(pricey_variant["sku"])

    placed = shopper.checkout(card, billing_address=US_ADDRESS)

    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "pending_review", answer
    order_id, checkout_id = answer["order_id"], answer["checkout_id"]
    assert backstage.stock(pricey_variant["sku"]) != stock_before  # reserved while held
    analyst = new_shopper("analyst", role="fraud_analyst")
    queue = analyst.get("/v1/reviews", page_size=100).json()["reviews"]
    [review] = [r for r in queue if r["checkout_id"] == checkout_id]

    rejected = analyst.post(f"/v1/reviews/{review['review_id']}/reject", {"note": "card reported stolen"})

    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected", rejected.text
    # The held checkout compensates by event: order cancelled, authorisation voided, reservation released.
    done = backstage.eventually(
        lambda: shopper.get(f"/v1/checkout/{checkout_id}").json(), lambda c: c["status"] in ("completed", "failed")
    )
    assert (done["status"], done["failure"]["code"]) == ("failed", "fraud_rejected"), done
    order = shopper.get(f"/v1/orders/{order_id}").json()
    assert (order["status"], order["cancellation_reason"]) == ("cancelled", "fraud_rejected"), order
    authorisation = backstage.eventually(
        lambda: backstage.authorization(backstage.order(order_id).payment.authorisation_id),
        lambda a: a["status"] == "voided",
    )
    assert authorisation["amount_captured"] == 0, authorisation
    assert backstage.eventually(lambda: backstage.stock(pricey_variant["sku"]), lambda s: s == stock_before)
    # A decided review stays decided.
    again = analyst.post(f"/v1/reviews/{review['review_id']}/approve")
    assert again.status_code == 409, again.text


def test_a_blocked_order_is_refused_with_its_reason_and_leaves_nothing_behind(
    new_shopper: NewShopper, backstage: Backstage, pricey_variant: dict[str, Any]
) -> None:
    # Card testing as it looks: an account opened a minute ago with a throw-away address, a card issued in
    # NG used from an IP in NG, billed in the US and shipped to GB, over 2,000 USD -> score ~84, BLOCK.
    claims = {"customer_since": int(time.time()), "email": f"buyer-{uuid.uuid4().hex[:8]}@mailinator.com"}
    shopper = new_shopper("blocked", claims=claims, ip_country="NG")
    high_value_cart(shopper, pricey_variant)
    card = shopper.new_card("NG")
    stock_before = backstage.stock(pricey_variant["sku"])
    authorised_before = backstage.authorizations_made()
    key = f"blocked-{uuid.uuid4().hex}"

    refused = shopper.checkout(card, key=key, billing_address=US_ADDRESS, shipping_address=GB_ADDRESS)

    problem = is_problem(refused, 422, "FRAUD_BLOCKED")
    assert problem["metadata"]["step"] == "assess_fraud", problem
    checkout_id = problem["metadata"]["checkout_id"]
    # The same key gives the same answer.
    again = shopper.checkout(card, key=key, billing_address=US_ADDRESS, shipping_address=GB_ADDRESS)
    assert is_problem(again, 422, "FRAUD_BLOCKED")["metadata"]["checkout_id"] == checkout_id
    failed = shopper.get(f"/v1/checkout/{checkout_id}").json()
    assert (failed["status"], failed["order_id"], failed["failure"]["code"]) == ("failed", "", "fraud_blocked"), failed
    # No order, no authorisation, no reservation, nothing queued for review.
    assert shopper.get("/v1/orders").json()["orders"] == []
    assert list(backstage.checkout(checkout_id).payment_attempts) == []
    assert backstage.authorizations_made() == authorised_before
    assert backstage.stock(pricey_variant["sku"]) == stock_before
    analyst = new_shopper("analyst", role="fraud_analyst")
    reviews = analyst.get("/v1/reviews", status=["open", "approved", "rejected", "cancelled"], page_size=100)
    assert reviews.status_code == 200, reviews.text
    assert [r for r in reviews.json()["reviews"] if r["checkout_id"] == checkout_id] == []
    # The cart is kept: the customer may still talk to customer service and try again.
    assert shopper.get("/v1/cart").json()["lines"] != []


def test_a_b2b_order_over_the_buyers_limit_waits_for_an_approver_of_the_same_account(
    new_shopper: NewShopper, backstage: Backstage, b2b_variants: B2bVariants
) -> None:
    # Accounts come with the token: acme-corp's buyer may order up to 500.00 USD per order and pays by invoice.
    limit = {"amount": 50_000, "currency": "USD"}
    account = {"account_id": "acme-corp", "approval_limit": limit, "approval_period": "order", "payment_terms_days": 30}
    buyer = new_shopper("acme-buyer", role="b2b_buyer", claims=account)
    approver = new_shopper("acme-approver", role="b2b_approver", claims={"account_id": "acme-corp"})
    outsider = new_shopper("globex-approver", role="b2b_approver", claims={"account_id": "globex"})
    # The buyer's search shows the account's prices and what is sold in the b2b channel.
    variant = max(b2b_variants(buyer, 50), key=lambda v: v["price"]["amount"])
    cart = buyer.add_to_cart(variant["sku"], limit["amount"] // variant["price"]["amount"] + 1)  # just over it
    assert cart["total"]["amount"] > limit["amount"], cart

    placed = buyer.checkout("invoice", purchase_order_number="PO-2024-0042")

    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "pending_approval" and answer["order_id"], answer
    order_id, checkout_id = answer["order_id"], answer["checkout_id"]
    waiting = buyer.get(f"/v1/orders/{order_id}").json()
    assert (waiting["status"], waiting["account_id"], waiting["payment_status"]) == (
        "pending_approval",
        "acme-corp",
        "invoiced",
    ), waiting
    assert (waiting["approval"]["status"], waiting["approval"]["limit"]) == ("pending", limit), waiting
    assert order_id in [o["order_id"] for o in approver.get("/v1/approvals").json()["orders"]]

    # Nobody else decides: not an approver of another account (the order does not exist for them), not the buyer.
    assert order_id not in [o["order_id"] for o in outsider.get("/v1/approvals").json()["orders"]]
    assert outsider.post(f"/v1/orders/{order_id}/approve").status_code in (403, 404)
    assert outsider.get(f"/v1/orders/{order_id}").status_code in (403, 404)
    assert buyer.post(f"/v1/orders/{order_id}/approve").status_code == 403
    assert buyer.get(f"/v1/orders/{order_id}").json()["status"] == "pending_approval"

    approved = approver.post(f"/v1/orders/{order_id}/approve", {"note": "within the Q3 budget"})

    assert approved.status_code == 200, approved.text
    order = approved.json()
    assert order["status"] == "confirmed", order
    assert (order["approval"]["status"], order["approval"]["decided_by"]) == ("approved", approver.username), order
    # The checkout resumes by event and finishes: stock committed, the cart cleared.
    done = backstage.eventually(
        lambda: buyer.get(f"/v1/checkout/{checkout_id}").json(), lambda c: c["status"] == "completed"
    )
    assert [s["state"] for s in done["steps"] if s["kind"] == "await_approval"] == ["succeeded"], done
    assert buyer.get("/v1/cart").json()["lines"] == []
    assert buyer.get(f"/v1/orders/{order_id}").json()["status"] == "confirmed"
