"""Who may call which method of the inventory service (see shopkit.access): the gateway for its
clients, the cart for availability, checkout for reservations, order for releases, restocks and the
reservations of exchanges, the operators' tooling for administration and reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "CreateLocation": allow(GATEWAY, TOOLING),
    "UpdateLocation": allow(GATEWAY, TOOLING),
    "GetLocation": allow("checkout", GATEWAY, TOOLING),
    "ListLocations": allow(GATEWAY, TOOLING),
    "AdjustStock": allow(GATEWAY, TOOLING),
    "SetStock": allow(GATEWAY, TOOLING),
    "Restock": allow("order", GATEWAY, TOOLING),
    "SetLowStockThresholds": allow(GATEWAY, TOOLING),
    "GetStockLevels": allow(GATEWAY, TOOLING),
    # ERP stock feeds come in through the gateway's back office.
    "StartStockFeed": allow(GATEWAY, TOOLING),
    "GetStockFeed": allow(GATEWAY, TOOLING),
    "ListStockFeedLines": allow(GATEWAY, TOOLING),
    # The backfill of catalog's search projection reads every SKU's total.
    "ListStockTotals": allow("catalog"),
    "GetAvailability": allow("cart", GATEWAY, TOOLING),
    # Steps of a checkout's saga and of an order's compensation; order takes the stock of an
    # exchange's replacement order.
    "Reserve": allow("checkout", "order"),
    "Commit": allow("checkout", "order"),
    "Release": allow("checkout", "order"),
    "GetReservation": allow("order", TOOLING),
}
