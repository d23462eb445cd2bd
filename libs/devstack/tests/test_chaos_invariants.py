"""The chaos suite's invariants catch what they are for: facts with no fault pass every one, and each
kind of broken promise is counted by its own invariant (and by no other)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shop_devstack.chaos.facts import After, Before, Stock
from shop_devstack.chaos.invariants import check

SKU = ("SKU-1", "wh-1")
KEY = "chaos-test-"


def checkout(n: int, status: str = "completed", order: str | None = "") -> dict[str, Any]:
    return {
        "id": f"co-{n}",
        "customer_key": f"buyer-{n}",
        "idempotency_key": f"{KEY}{n}",
        "status": status,
        "step": "",
        "order_id": f"ord-{n}" if order == "" else order,
        "total_amount": 1000,
        "failure": None,
    }


def order(n: int, captured: int = 1000, checkout_id: str = "") -> dict[str, Any]:
    return {
        "id": f"ord-{n}",
        "checkout_id": checkout_id or f"co-{n}",
        "status": "confirmed",
        "payment_status": "captured",
        "payment_kind": "card",
        "authorisation_id": f"auth-{n}",
        "total": 1000,
        "captured_amount": captured,
    }


def authorisation(n: int, status: str = "captured", captured: int = 1000, checkout_id: str = "") -> dict[str, Any]:
    return {
        "id": f"auth-{n}",
        "status": status,
        "amount": 1000,
        "amount_captured": captured,
        "checkout_id": checkout_id or f"co-{n}",
    }


def sound() -> tuple[Before, After]:
    """Two completed checkouts that took one unit each out of ten; one checkout declined."""
    before = Before(datetime.now(UTC), {SKU: Stock(on_hand=10, reserved=0, committed=0, active=0)})
    after = After(
        checkouts=[checkout(1), checkout(2), checkout(3, "failed", None)],
        live_checkouts=set(),
        orders=[order(1), order(2)],
        existing_orders={"ord-1", "ord-2"},
        authorisations=[authorisation(1), authorisation(2), authorisation(3, "declined", 0)],
        stock={SKU: Stock(on_hand=8, reserved=0, committed=2, active=0)},
        unpublished={"checkout": 0, "order": 0},
        dead_letters=0,
    )
    return before, after


def violated(before: Before, after: After, shown: set[str] | None = None) -> dict[str, int]:
    return {i.name: i.violations for i in check(before, after, shown or {"ord-1"}) if not i.kept}


def test_facts_of_a_sound_run_keep_every_invariant() -> None:
    before, after = sound()
    assert violated(before, after) == {}


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        (
            lambda b, a: replace(a, orders=[*a.orders, order(9, checkout_id="co-1")]),
            {"one order per idempotency key": 1, "captures match orders": 1},
        ),
        (
            lambda b, a: replace(a, authorisations=[*a.authorisations, authorisation(7, "authorized", 0, "co-1")]),
            {"no double authorisation": 1, "no orphan authorisation": 1},
        ),
        (
            lambda b, a: replace(a, authorisations=[*a.authorisations, authorisation(8, "authorized", 0, "co-8")]),
            {"no orphan authorisation": 1},
        ),
        (
            lambda b, a: replace(a, orders=[order(1, captured=500), order(2)]),
            {"captures match orders": 2},  # the provider's capture differs, and the completed checkout's order
        ),
        (
            lambda b, a: replace(a, stock={SKU: Stock(on_hand=9, reserved=0, committed=2, active=0)}),
            {"stock conserved per (SKU, location)": 1},
        ),
        (
            lambda b, a: replace(a, stock={SKU: Stock(on_hand=8, reserved=1, committed=2, active=0)}),
            {"reserved = units of active reservations": 1},
        ),
        (lambda b, a: replace(a, active_reservations=["co-3"]), {"no leaked reservation": 1}),
        (
            lambda b, a: replace(a, checkouts=[*a.checkouts, checkout(4, "running", None)]),
            {"no saga left running": 1},
        ),
        (
            lambda b, a: replace(a, unpublished={"checkout": 3, "order": 0}),
            {"nothing left unpublished in an outbox": 1},
        ),
        (lambda b, a: replace(a, dead_letters=2), {"dead-letter stream empty": 1}),
        (lambda b, a: replace(a, dead_letters=None), {"dead-letter stream empty": 1}),
    ],
)
def test_each_broken_promise_is_counted_by_its_invariant(change: Any, broken: dict[str, int]) -> None:
    before, after = sound()
    assert violated(before, change(before, after)) == broken


def test_an_order_a_buyer_was_shown_must_exist() -> None:
    before, after = sound()
    assert violated(before, after, {"ord-1", "ord-404"}) == {"every order a buyer was shown exists": 1}


def test_units_of_a_cancelled_order_restocked_are_conserved() -> None:
    """A confirmed order cancelled after its stock was committed: the units come back by a restock while
    the reservation stays committed."""
    before, after = sound()
    restocked = replace(after, stock={SKU: Stock(on_hand=9, reserved=0, committed=2, active=0, adjusted=1)})
    assert violated(before, restocked) == {}


def test_a_reservation_of_a_held_checkout_is_not_leaked() -> None:
    before, after = sound()
    held = replace(after, active_reservations=["co-5"], live_checkouts={"co-5"})
    assert violated(before, held) == {}
