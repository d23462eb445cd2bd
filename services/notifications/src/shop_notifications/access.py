"""Who may call which method of the notifications service (see shopkit.access): the operators'
tooling reads what was mailed; no other service calls it (it learns everything from events). The
gateway exports and erases a customer's mails."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "ListNotifications": allow(TOOLING),
    "GetNotification": allow(TOOLING),
    # A customer's personal data: the gateway (the customer, an admin) and tooling.
    "ExportCustomerData": allow(GATEWAY, TOOLING),
    "EraseCustomer": allow(GATEWAY, TOOLING),
}
