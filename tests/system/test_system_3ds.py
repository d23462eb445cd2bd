"""3-D Secure through the gateway on the launched stack: a card that needs authentication answers 202
`action_required` with the provider's next_action; the shopper's browser completes the challenge at the
sandbox's public face (no client certificate) and the repeated request turns the same checkout into an
order; a shopper who walks away gets nothing held: past the deadline (ACTION_TIMEOUT_SECONDS, short in the
session's stack) the authorisation is voided and the stock released."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper, Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

CARD_3DS = "4000000000003220"


def in_stock_sku(product: dict[str, Any], index: int) -> str:
    skus = [v["sku"] for v in product["variants"] if v["availability"] and v["availability"]["available"] > 0]
    assert skus, product
    return str(skus[index % len(skus)])


def held_for_action(shopper: Shopper, card: str, key: str) -> dict[str, Any]:
    """POST /v1/checkout with the 3-D Secure card: 202 action_required with what the customer must do."""
    placed = shopper.checkout(card, key=key)
    assert placed.status_code == 202, placed.text
    answer: dict[str, Any] = placed.json()
    assert (answer["status"], answer["order_id"]) == ("action_required", ""), answer
    action = answer["next_action"]
    assert action["type"] == "three_d_secure" and action["client_secret"], action
    assert datetime.fromisoformat(action["expires_at"]) > datetime.now(UTC)
    assert placed.headers["location"] == f"/v1/checkout/{answer['checkout_id']}"
    return answer


def test_a_3ds_purchase_is_completed_by_the_shopper_and_becomes_an_order(
    new_shopper: NewShopper, http: httpx.Client, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    shopper = new_shopper("three-d-secure")
    shopper.add_to_cart(in_stock_sku(trail_product, 2))
    card, key = shopper.card(CARD_3DS), f"3ds-{uuid.uuid4().hex}"
    answer = held_for_action(shopper, card, key)
    action = answer["next_action"]
    followed = shopper.get(f"/v1/checkout/{answer['checkout_id']}")
    assert (followed.json()["status"], followed.json()["next_action"]) == ("action_required", action)

    # The shopper's browser: the sandbox's public face, checked against the CA, without a certificate.
    challenge = http.post(action["url"], json={"client_secret": action["client_secret"], "authenticated": True})
    assert challenge.status_code == 200, challenge.text
    done = shopper.checkout(card, key=key)  # the same request again

    assert done.status_code == 201, done.text
    completed = done.json()
    assert (completed["checkout_id"], completed["status"], completed["next_action"]) == (
        answer["checkout_id"],
        "completed",
        None,
    )
    order = backstage.order(completed["order_id"])
    checkout = backstage.checkout(answer["checkout_id"])
    [authorise] = [a for a in checkout.payment_attempts if a.operation == "authorise"]
    authorization = backstage.authorization(authorise.provider_reference)
    assert authorization["status"] == "captured" and authorization["amount_captured"] == order.totals.total.amount
    assert authorization["three_d_secure"] == {"authenticated": True}


def test_an_abandoned_3ds_checkout_times_out_and_gives_everything_back(
    new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    shopper = new_shopper("three-d-secure-abandoned")
    sku = in_stock_sku(trail_product, 3)
    before = backstage.stock(sku)
    shopper.add_to_cart(sku, 2)
    card, key = shopper.card(CARD_3DS), f"3ds-gone-{uuid.uuid4().hex}"
    answer = held_for_action(shopper, card, key)
    assert sum(backstage.stock(sku).values()) == sum(before.values()) - 2  # held meanwhile

    def read() -> dict[str, Any]:
        found: dict[str, Any] = shopper.get(f"/v1/checkout/{answer['checkout_id']}").json()
        return found

    failed = backstage.eventually(read, lambda c: c["status"] == "failed", within=60.0, interval=0.5)

    assert failed["failure"]["code"] == "action_expired" and failed["next_action"] is None
    assert failed["failure"]["step"] == "authorise_payment"
    assert backstage.eventually(lambda: backstage.stock(sku), lambda s: s == before, within=10.0) == before
    checkout = backstage.checkout(answer["checkout_id"])
    [authorise] = [a for a in checkout.payment_attempts if a.operation == "authorise"]
    assert backstage.authorization(authorise.provider_reference)["status"] == "voided"
    replay = shopper.checkout(card, key=key)
    assert replay.status_code == 409, replay.text
    assert (replay.json()["code"], replay.json()["metadata"]["checkout_id"]) == (
        "ACTION_EXPIRED",
        answer["checkout_id"],
    )
