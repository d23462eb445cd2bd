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
    # Outbound webhooks: an admin through the gateway's /v1/admin/webhooks, and tooling.
    "CreateWebhook": allow(GATEWAY, TOOLING),
    "ListWebhooks": allow(GATEWAY, TOOLING),
    "GetWebhook": allow(GATEWAY, TOOLING),
    "UpdateWebhook": allow(GATEWAY, TOOLING),
    "RotateWebhookSecret": allow(GATEWAY, TOOLING),
    "ListWebhookDeliveries": allow(GATEWAY, TOOLING),
    "ReplayWebhookDeliveries": allow(GATEWAY, TOOLING),
}
