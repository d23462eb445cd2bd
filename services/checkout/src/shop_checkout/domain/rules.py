"""Business rules around the saga: idempotency scope and fingerprint, provider keys, approvals."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

from shop_checkout.domain.model import ApprovalPeriod, PlaceOrder
from shopkit.money import Money


def customer_key(customer_id: str, cart_id: str) -> str:
    """The scope of an idempotency key: the customer, or for a guest the cart (a guest's only identity)."""
    return customer_id or f"guest:{cart_id}"


def request_fingerprint(request: PlaceOrder) -> str:
    """What the client sent, to tell a retry from a different request under the same key.

    Gateway-supplied signals (IP, device, account settings) may differ between retries and are left out.
    """
    payload = {
        "cart_id": request.cart_id,
        "payment": dataclasses.asdict(request.payment),
        "fulfilment": dataclasses.asdict(request.fulfilment),
        "billing_address": dataclasses.asdict(request.billing_address),
        "email": request.email.strip().lower(),
        "cart_version": request.cart_version,
    }
    if request.shipping_method:  # only when given: keys of checkouts placed before it existed still match
        payload["shipping_method"] = request.shipping_method
    if request.sales_quote_id:  # likewise
        payload["sales_quote_id"] = request.sales_quote_id
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def authorise_key(checkout_id: str) -> str:
    return f"checkout:{checkout_id}:authorize"


def void_key(checkout_id: str) -> str:
    return f"checkout:{checkout_id}:void"


# The step of an order whose buyer exceeded their own limits while no rule of the account asked for
# one (customers' ResolveApprovalChain names it the same): any approver of the account decides.
SPENDING_LIMIT_STEP = "spending limit"


def coupon_customer(request: PlaceOrder) -> str:
    """Who a coupon's per-customer limit counts against: the customer, or a guest's email."""
    return request.customer.customer_id or f"guest:{request.email.strip().lower()}"


def period_start(period: ApprovalPeriod, now: datetime) -> datetime | None:
    """Start of the approval period containing `now` (UTC); None for per-order limits."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is ApprovalPeriod.DAY:
        return day
    if period is ApprovalPeriod.WEEK:
        return day - timedelta(days=day.weekday())
    if period is ApprovalPeriod.MONTH:
        return day.replace(day=1)
    return None


def over_order_limit(request: PlaceOrder, total: Money) -> bool:
    """Whether this order alone exceeds the buyer's per-order limit (order_limit, or approval_limit
    counted per order). A limit in another currency than the order cannot be compared: it is exceeded."""
    limits = [request.order_limit]
    if request.approval_period is ApprovalPeriod.ORDER:
        limits.append(request.approval_limit)
    return any(
        limit is not None and (limit.currency != total.currency or total.amount > limit.amount) for limit in limits
    )


def needs_approval(request: PlaceOrder, total: Money, spent_before: Money | None) -> bool:
    """Whether the buyer's limits are exceeded: the per-order limit by this order, or the period's
    limit by this order plus the period's spending. Both count when both are set.

    A limit in another currency than the order cannot be compared: an approver decides.
    """
    if over_order_limit(request, total):
        return True
    limit = request.approval_limit
    if limit is None:
        return False
    if limit.currency != total.currency:
        return True
    spent = spent_before.amount if spent_before is not None and spent_before.currency == total.currency else 0
    if request.approval_period is ApprovalPeriod.ORDER:
        spent = 0
    return spent + total.amount > limit.amount
