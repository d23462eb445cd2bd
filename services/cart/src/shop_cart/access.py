"""Who may call which method of the cart service (see shopkit.access): the gateway for its clients,
checkout for the cart it buys, the operators' tooling for administration and reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "CreateCart": allow(GATEWAY, TOOLING),
    "GetCart": allow("checkout", GATEWAY, TOOLING),
    "GetActiveCart": allow(GATEWAY, TOOLING),
    "AddCartLine": allow(GATEWAY, TOOLING),
    "UpdateCartLine": allow(GATEWAY, TOOLING),
    "RemoveCartLine": allow(GATEWAY, TOOLING),
    "ApplyCoupon": allow(GATEWAY, TOOLING),
    "RemoveCoupon": allow(GATEWAY, TOOLING),
    "MergeCarts": allow(GATEWAY, TOOLING),
    "RefreshCart": allow(GATEWAY, TOOLING),
    # A customer's personal data: the gateway (the customer, an admin) and tooling.
    "ExportCustomerData": allow(GATEWAY, TOOLING),
    "EraseCustomer": allow(GATEWAY, TOOLING),
    # A step of a checkout's saga.
    "CheckOutCart": allow("checkout"),
}
