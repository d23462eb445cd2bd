"""The promises a chaos run must leave intact, each counted from the facts read after it settled.

Every invariant is a count of violations (0 = kept) with a few examples to start a search from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from shop_devstack.chaos.facts import ACTIVE_CHECKOUT, LIVE_AUTHORISATION, After, Before

EXAMPLES = 5


@dataclass
class Invariant:
    name: str
    violations: int
    checked: int  # how many things were looked at
    examples: list[str] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return self.violations == 0


def _invariant(name: str, checked: int, bad: Iterable[str]) -> Invariant:
    found = list(bad)
    return Invariant(name, len(found), checked, found[:EXAMPLES])


def check(before: Before, after: After, orders_shown: set[str]) -> list[Invariant]:
    key_of = {c["id"]: (c["customer_key"], c["idempotency_key"]) for c in after.checkouts}
    active = {c["id"] for c in after.checkouts if c["status"] in ACTIVE_CHECKOUT}
    return [
        one_order_per_key(after, key_of),
        no_double_authorisation(after, key_of),
        no_orphan_authorisation(after, active),
        captures_match_orders(after),
        stock_conserved(before, after),
        reservations_consistent(after),
        no_leaked_reservation(after),
        _invariant("no saga left running", len(after.checkouts), sorted(active)),
        _invariant(
            "nothing left unpublished in an outbox",
            len(after.unpublished),
            [f"{db}: {n} rows" for db, n in sorted(after.unpublished.items()) if n],
        ),
        _invariant(
            "dead-letter stream empty",
            1,
            [] if after.dead_letters == 0 else [f"{after.dead_letters if after.dead_letters is not None else '?'}"],
        ),
        _invariant(
            "every order a buyer was shown exists", len(orders_shown), sorted(orders_shown - after.existing_orders)
        ),
    ]


def one_order_per_key(after: After, key_of: dict[str, tuple[str, str]]) -> Invariant:
    """At most one order per idempotency key (over every attempt under it), and every new order has a
    checkout of the run behind it."""
    orders_per_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    strays = []
    for order in after.orders:
        key = key_of.get(order["checkout_id"])
        if key is None:
            strays.append(f"order {order['id']} of an unknown checkout {order['checkout_id']}")
        else:
            orders_per_key[key].add(order["id"])
    for checkout in after.checkouts:
        if checkout["order_id"]:
            orders_per_key[key_of[checkout["id"]]].add(checkout["order_id"])
    doubles = [f"key {key[1]}: orders {sorted(ids)}" for key, ids in orders_per_key.items() if len(ids) > 1]
    return _invariant("one order per idempotency key", len(set(key_of.values())), doubles + strays)


def no_double_authorisation(after: After, key_of: dict[str, tuple[str, str]]) -> Invariant:
    """No key holds or took money twice: at most one authorisation not declined, failed or voided."""
    live: dict[object, list[str]] = defaultdict(list)
    for auth in after.authorisations:
        if auth["status"] in LIVE_AUTHORISATION:
            live[key_of.get(auth["checkout_id"], auth["checkout_id"])].append(auth["id"])
    doubles = [f"{key}: {ids}" for key, ids in live.items() if len(ids) > 1]
    return _invariant("no double authorisation", len(after.authorisations), doubles)


def no_orphan_authorisation(after: After, still_running: set[str]) -> Invariant:
    """Every authorisation that holds or took money belongs to an order (or is voided)."""
    ordered = {order["authorisation_id"] for order in after.orders if order["authorisation_id"]}
    orphans = [
        f"{auth['id']} ({auth['status']}, checkout {auth['checkout_id']})"
        for auth in after.authorisations
        if auth["status"] in LIVE_AUTHORISATION
        and auth["id"] not in ordered
        and auth["checkout_id"] not in still_running
    ]
    return _invariant("no orphan authorisation", len(after.authorisations), orphans)


def captures_match_orders(after: After) -> Invariant:
    """What the provider captured is what each order says it captured, and a completed checkout's order is
    captured in full."""
    by_id = {auth["id"]: auth for auth in after.authorisations}
    order_by_id = {order["id"]: order for order in after.orders}
    bad = []
    for order in after.orders:
        if order["payment_kind"] != "card":
            continue
        auth = by_id.get(order["authorisation_id"])
        provider = auth["amount_captured"] if auth is not None else None
        if provider != order["captured_amount"]:
            bad.append(f"order {order['id']}: provider captured {provider}, order says {order['captured_amount']}")
    for checkout in after.checkouts:
        placed = order_by_id.get(checkout["order_id"] or "")
        if checkout["status"] == "completed" and (placed is None or placed["captured_amount"] != placed["total"]):
            got = "no order" if placed is None else f"{placed['captured_amount']} of {placed['total']} captured"
            bad.append(f"completed checkout {checkout['id']}: {got}")
    return _invariant("captures match orders", len(after.orders), bad)


def stock_conserved(before: Before, after: After) -> Invariant:
    """Per (SKU, location): units on hand plus units committed out are what they were before the run."""
    places = set(before.stock) | set(after.stock)
    bad = []
    for place in sorted(places):
        was = before.stock[place].conserved if place in before.stock else 0
        now = after.stock[place].conserved if place in after.stock else 0
        if was != now:
            bad.append(f"{place[0]} at {place[1]}: {was} before, {now} after (on hand + committed - restocked)")
    return _invariant("stock conserved per (SKU, location)", len(places), bad)


def reservations_consistent(after: After) -> Invariant:
    """Per (SKU, location): the units reserved are the units of its active reservations."""
    bad = [
        f"{place[0]} at {place[1]}: reserved {level.reserved}, active reservations hold {level.active}"
        for place, level in sorted(after.stock.items())
        if level.reserved != level.active
    ]
    return _invariant("reserved = units of active reservations", len(after.stock), bad)


def no_leaked_reservation(after: After) -> Invariant:
    """Every active reservation belongs to a live checkout (its id is the checkout's)."""
    leaked = [r for r in after.active_reservations if r not in after.live_checkouts]
    return _invariant("no leaked reservation", len(after.active_reservations), leaked)
