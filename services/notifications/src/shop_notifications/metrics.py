"""The notifications service's own metrics, beside the kit's RED metrics: what the SMTP server did
with each attempt, so a mail server that refuses or is away shows before customers ask."""

from __future__ import annotations

from prometheus_client import Counter

ATTEMPTS = Counter(
    "shop_mail_attempts_total",
    "SMTP attempts by mail kind and outcome: sent, retry (a failure that may pass), failed (given up).",
    ["kind", "outcome"],
)

WEBHOOK_ATTEMPTS = Counter(
    "shop_webhook_attempts_total",
    "Webhook POSTs by event type and outcome: delivered, pending (failed, retried later), dead (given up).",
    ["event_type", "outcome"],
)
