"""`kill -9` of checkout between the payment's authorisation and the order's creation, over real HTTP with
every process running: the launcher restarts it, the restarted process resumes the saga, and the saga
completes or compensates, never both, without leaking stock or an authorisation.

The session stack runs checkout with FAULT_CRASH_AT=after:authorise_payment and an armed-file switch
(conftest.session_env): creating the file makes the next saga that got its authorisation SIGKILL its
process before the answer is even recorded; the file is deleted first, so the restarted process, which
runs the authorisation again (idempotently, the provider replays it), goes on instead of crashing again.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from shop.checkout.v1 import checkout_pb2

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

QUANTITY = 2
RESTART_WITHIN = 90.0  # the launcher's backoff plus a cold start of the process on a busy machine


def test_kill_9_of_checkout_after_the_authorisation_completes_or_compensates_exactly_once(
    new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any], checkout_crash_switch: Path
) -> None:
    shopper = new_shopper("crash")
    sku = next(v["sku"] for v in trail_product["variants"] if sum(backstage.stock(v["sku"]).values()) >= 10)
    shopper.add_to_cart(sku, QUANTITY)
    card = shopper.new_card()
    stock_before = sum(backstage.stock(sku).values())
    authorised_before = backstage.authorizations_made()
    checkout_before = backstage.process("checkout")
    key = f"crash-{uuid.uuid4().hex}"
    checkout_crash_switch.touch()

    # The process dies under this call: the gateway answers what it can (503 while checkout is down, or the
    # outcome if its own retry reached the restarted process).
    first = shopper.checkout(card, key=key)

    assert first.status_code in (201, 202, 503, 504), first.text
    assert not checkout_crash_switch.exists(), "checkout never reached the crash point"
    restarted = backstage.eventually(
        lambda: backstage.process("checkout"),
        lambda row: row["restarts"] > checkout_before["restarts"] and row["health"] == "SERVING",
        within=RESTART_WITHIN,
        interval=0.5,
    )
    assert restarted["restarts"] == checkout_before["restarts"] + 1 and restarted["pid"] != checkout_before["pid"]
    assert "checkout was killed by SIGKILL" in backstage.stack.output.read_text()

    # The client retries with the same Idempotency-Key until the answer is final.
    answer = backstage.eventually(
        lambda: shopper.checkout(card, key=key), lambda r: r.status_code not in (202, 503, 504), within=60, interval=0.5
    )
    orders = shopper.get("/v1/orders").json()["orders"]
    made = backstage.authorizations_made() - authorised_before
    assert made == 1, f"{made} authorisations for one checkout"  # the restarted saga's authorisation was a replay
    if answer.status_code == 201:  # completed: one order, its payment captured once, its stock gone
        placed = answer.json()
        assert placed["status"] == "completed", placed
        assert [o["order_id"] for o in orders] == [placed["order_id"]], orders
        checkout = backstage.checkout(placed["checkout_id"])
        assert checkout.status == checkout_pb2.CHECKOUT_STATUS_COMPLETED, checkout
        order = backstage.order(placed["order_id"])
        total = order.totals.total.amount
        authorisation = backstage.authorization(order.payment.authorisation_id)
        assert (authorisation["status"], authorisation["amount_captured"]) == ("captured", total), authorisation
        assert authorisation["metadata"]["checkout_id"] == placed["checkout_id"]
        expected_stock = stock_before - QUANTITY
    else:  # compensated: no order, the authorisation voided, the stock back
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
        assert orders == [], orders
        checkout = backstage.checkout(problem["metadata"]["checkout_id"])
        assert checkout.status == checkout_pb2.CHECKOUT_STATUS_FAILED and not checkout.order_id, checkout
        [reference] = {a.provider_reference for a in checkout.payment_attempts if a.operation == "authorise"}
        assert backstage.authorization(reference)["status"] == "voided"
        expected_stock = stock_before
    # The saga went on from where it died: the authorisation step ran a second time (a replay), nothing else did.
    attempts = {step.kind: step.attempts for step in checkout.steps}
    assert attempts[checkout_pb2.CHECKOUT_STEP_KIND_AUTHORISE_PAYMENT] == 2, checkout.steps
    assert all(n <= 1 for kind, n in attempts.items() if kind != checkout_pb2.CHECKOUT_STEP_KIND_AUTHORISE_PAYMENT)
    backstage.eventually(lambda: sum(backstage.stock(sku).values()), lambda units: units == expected_stock, within=10)
    # One crash: the restarted process did not die again on the replayed authorisation.
    assert backstage.process("checkout")["restarts"] == restarted["restarts"]
