"""Outbound webhooks' rules, free of I/O: which events may be subscribed
to, the payload, the signature (`Shop-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of "<t>.<body>"
with the webhook's secret: Stripe's scheme, so receivers' existing verifiers fit), the retry pauses
(exponential with full jitter: endpoints that came back are not hit by every queued delivery at
once) and which URLs are refused (SSRF: a subscriber must not make this service call into the
cluster or the cloud's metadata endpoint; names are checked where they are dialled, in
`webhook_transport`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import Message

from shop.inventory.v1 import events_pb2 as inventory_events
from shop.order.v1 import events_pb2 as order_events
from shop.pricing.v1 import events_pb2 as pricing_events

# The event types a webhook may subscribe to, and each one's message (docs/api.md "Webhooks").
ORDER_EVENTS: dict[str, type[Message]] = {
    "shop.order.confirmed": order_events.OrderConfirmed,
    "shop.order.cancelled": order_events.OrderCancelled,
    "shop.order.fulfilled": order_events.OrderFulfilled,
    "shop.order.refunded": order_events.OrderRefunded,
    "shop.order.status_changed": order_events.OrderStatusChanged,
    # A B2B order's approval steps, for the buyer's procurement system.
    "shop.order.approval_decided": order_events.OrderApprovalDecided,
    "shop.order.return_requested": order_events.ReturnRequested,
    "shop.order.return_received": order_events.ReturnReceived,
    "shop.order.return_inspected": order_events.ReturnInspected,
    "shop.order.return_refunded": order_events.ReturnRefunded,
    # B2B invoices, for the ERP's accounts receivable.
    "shop.order.invoice_issued": order_events.InvoiceIssued,
    "shop.order.invoice_paid": order_events.InvoicePaid,
}
INVENTORY_EVENTS: dict[str, type[Message]] = {
    "shop.inventory.stock_level_changed": inventory_events.StockLevelChanged,
}
# Sales quotes, for the CRM: a request to answer, an offer made, a deal won or lost.
PRICING_EVENTS: dict[str, type[Message]] = {
    "shop.pricing.sales_quote_requested": pricing_events.SalesQuoteRequested,
    "shop.pricing.sales_quote_offered": pricing_events.SalesQuoteOffered,
    "shop.pricing.sales_quote_accepted": pricing_events.SalesQuoteAccepted,
    "shop.pricing.sales_quote_declined": pricing_events.SalesQuoteDeclined,
}
EVENT_TYPES: dict[str, type[Message]] = {**ORDER_EVENTS, **INVENTORY_EVENTS, **PRICING_EVENTS}
MAX_EVENT_TYPES = 20
MAX_URL = 2000
SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "Shop-Signature"


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def payload(event_type: str, event_id: str, data: bytes) -> str:
    """The JSON body: `id` (the event id, also Shop-Event-Id), `type`, `created` (unix seconds of the
    event; null when it carries no time) and `data`, the event in protobuf's JSON mapping (field names
    as in the .proto)."""
    message = EVENT_TYPES[event_type].FromString(data)
    meta = getattr(message, "meta", None)
    created = meta.occurred_at.seconds if meta is not None and meta.HasField("occurred_at") else None
    body = {
        "id": event_id,
        "type": event_type,
        "created": created,
        "data": json_format.MessageToDict(message, preserving_proto_field_name=True),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Shop-Signature header's value."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (docs/api.md has the same in a snippet): the v1 HMAC matches and the
    timestamp is recent (a captured request replayed later is refused)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Backoff:
    """After `attempts` failed attempts: when to try again, or None (dead). The pause is drawn
    uniformly up to base · 2^(n-1), capped, and never under half of it (full jitter, bounded below)."""

    max_attempts: int
    base: timedelta
    ceiling: timedelta
    draw: Callable[[float, float], float] = random.uniform

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        pause = min(self.ceiling, self.base * (2 ** max(0, attempts - 1))).total_seconds()
        return now + timedelta(seconds=self.draw(pause / 2, pause))


class TargetRefused(ValueError):
    """A URL this service does not call."""


def check_url(url: str, *, allow_private: bool) -> str:
    """The problem with a webhook URL as written, or "" (names are resolved at send time)."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return "must be an absolute URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https URL"
    if parts.username or parts.password:
        return "must not hold credentials"
    if parts.scheme == "http" and not (allow_private and _loopback_name(parts.hostname)):
        return "must be https (http only to loopback where private targets are allowed: development)"
    if not allow_private:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return "" if parts.hostname != "localhost" else "must not be a loopback address"
        if not literal.is_global:
            return "must not be a private, loopback or link-local address"
    return ""


def _loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
