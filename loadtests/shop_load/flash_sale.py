"""The flash sale's stage: a real sell-out of one hot SKU, and the check that nothing was oversold.

At test start (before any user spawns) an admin, through the gateway, picks a priced SKU and sets
its stock to FLASH_SALE_UNITS available units at one location and none anywhere else
(`GET /v1/stock?sku=`, `PUT /v1/stock`). FlashSale users then race for those units, counting their
orders and their sold-out answers here. At test stop the stock is read again: no level may be
negative (on hand, reserved, available) and the buyers may not have more orders than there were
units. The verdict is printed and reported as a locust request of type CHECK (a failure fails the
run).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from locust import events
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from shop_load.config import FLASH_SALE_UNITS, GATEWAY_URL, SEARCH_TERMS


@dataclass
class Sale:
    sku: str
    units: int  # what the sale offers: available units when it opened
    already_reserved: int  # reservations of other checkouts when it opened (they may come back)
    orders: int = 0  # FlashSale checkouts that got an order
    sold_out: int = 0  # FlashSale buyers told the SKU is gone (cart problem or refused checkout)


current: Sale | None = None  # the running sale; None: there is none (no FlashSale users, or setup failed)


def _admin_headers(session: FastHttpSession, step: str) -> dict[str, str] | None:
    body = {"username": "load-flash-sale-admin", "role": "admin"}
    with session.post("/v1/auth/token", json=body, name=f"flash {step} /v1/auth/token", catch_response=True) as reply:
        if reply.status_code != 200:
            reply.failure(f"admin token: {reply.status_code} {reply.text}")
            return None
        return {"authorization": f"Bearer {reply.json()['access_token']}"}


def _hot_sku(session: FastHttpSession) -> str | None:
    """The first priced SKU the demo catalogue's first search term finds."""
    with session.get(
        f"/v1/products?query={SEARCH_TERMS[0]}&page_size=10", name="flash setup /v1/products?query", catch_response=True
    ) as reply:
        if reply.status_code != 200:
            reply.failure(f"search: {reply.status_code} {reply.text}")
            return None
        for product in reply.json().get("products", []):
            for variant in product.get("variants", []):
                if variant.get("price"):
                    return str(variant["sku"])
        reply.failure(f"no priced SKU found for {SEARCH_TERMS[0]!r}")
    return None


def _levels(session: FastHttpSession, sku: str, headers: dict[str, str], step: str) -> list[dict[str, Any]] | None:
    """Every (location) stock level of the SKU."""
    with session.get(f"/v1/stock?sku={sku}", headers=headers, name=f"flash {step} /v1/stock", catch_response=True) as r:
        if r.status_code != 200 or not r.json().get("stock"):
            r.failure(f"stock levels: {r.status_code} {r.text}")
            return None
        levels: list[dict[str, Any]] = r.json()["stock"]
        return levels


def open_sale(session: FastHttpSession, units: int) -> Sale | None:
    headers = _admin_headers(session, "setup")
    sku = _hot_sku(session) if headers else None
    levels = _levels(session, sku, headers, "setup") if sku and headers else None
    if not (sku and headers and levels):
        return None
    # On hand below what is reserved would be refused: keep the reservations and add `units` at one place.
    entries = [
        {"sku": sku, "location_id": level["location_id"], "on_hand": level["reserved"] + (units if i == 0 else 0)}
        for i, level in enumerate(levels)
    ]
    body = {"entries": entries, "reason": "load test flash sale"}
    with session.put("/v1/stock", json=body, headers=headers, name="flash setup /v1/stock", catch_response=True) as r:
        if r.status_code != 200:
            r.failure(f"set stock: {r.status_code} {r.text}")
            return None
    reserved = sum(int(level["reserved"]) for level in levels)
    print(f"flash sale: {sku} opens with {units} units at {levels[0]['location_id']}", file=sys.stderr, flush=True)
    return Sale(sku, units, reserved)


def check_sale(session: FastHttpSession, sale: Sale, environment: Environment) -> None:
    headers = _admin_headers(session, "check")
    levels = _levels(session, sale.sku, headers, "check") if headers else None
    if levels is None:
        return  # reported as a failed request already
    totals = {key: sum(int(level[key]) for level in levels) for key in ("on_hand", "reserved", "available")}
    negative = [
        level
        for level in levels
        if min(level["on_hand"], level["reserved"], level["available"]) < 0 or level["reserved"] > level["on_hand"]
    ]
    oversold = sale.orders > sale.units + sale.already_reserved
    verdict = "OVERSOLD" if negative or oversold else "no oversell"
    print(
        f"flash sale: {sale.sku}: {sale.units} units, {sale.orders} orders, {sale.sold_out} sold-out answers; "
        f"stock now on hand {totals['on_hand']}, reserved {totals['reserved']}, available {totals['available']}"
        f" -> {verdict}",
        file=sys.stderr,
        flush=True,
    )
    problem = None
    if verdict != "no oversell":
        problem = AssertionError(f"orders {sale.orders} > units {sale.units} or negative stock {negative}")
        environment.process_exit_code = 1
    request: Any = environment.events.request  # locust's event hooks are untyped
    request.fire(
        request_type="CHECK",
        name="flash sale: no oversell",
        response_time=0,
        response_length=0,
        exception=problem,
        context={},
    )


def _session(environment: Environment) -> FastHttpSession:
    return FastHttpSession(GATEWAY_URL, environment.events.request, user=None)


def _has_flash_sale_users(environment: Environment) -> bool:
    return any(user_class.__name__ == "FlashSale" for user_class in environment.user_classes)


def _open(environment: Environment, **_: Any) -> None:
    global current
    current = open_sale(_session(environment), FLASH_SALE_UNITS) if _has_flash_sale_users(environment) else None


def _close(environment: Environment, **_: Any) -> None:
    if current is not None:
        check_sale(_session(environment), current, environment)


hooks: Any = events  # locust's event hooks are untyped
hooks.test_start.add_listener(_open)
hooks.test_stop.add_listener(_close)
