"""Who may call which method of the checkout service (see shopkit.access): the gateway for its clients,
the operators' tooling for administration and reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "PlaceOrder": allow(GATEWAY, TOOLING),
    "GetCheckout": allow(GATEWAY, TOOLING),
    "ListCheckouts": allow(GATEWAY, TOOLING),
    # A customer's personal data: the gateway (the customer, an admin) and tooling.
    "ExportCustomerData": allow(GATEWAY, TOOLING),
    "EraseCustomer": allow(GATEWAY, TOOLING),
}
