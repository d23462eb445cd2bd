"""Events the pricing service publishes (through the outbox) and the inventory events it consumes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.pricing.v1 import events_pb2
from shop_pricing import store
from shop_pricing.domain.dynamic import DynamicRule, next_price
from shop_pricing.store import dynamic as dynamic_store
from shop_pricing.store import prices as price_store
from shop_pricing.store.promotions import Redemption
from shopkit.consumer import message_id, processing
from shopkit.outbox import add_event, add_events

log = logging.getLogger("shop_pricing.events")

PRICE_CHANGED = "shop.pricing.price_changed"
COUPON_REDEEMED = "shop.pricing.coupon_redeemed"
STOCK_LEVEL_CHANGED = "shop.inventory.stock_level_changed"
DYNAMIC_PRICING_CONSUMER = "dynamic-pricing"  # durable "pricing-dynamic-pricing" on SHOP_INVENTORY

CAUSES = {
    "base_price_set": events_pb2.PRICE_CHANGE_CAUSE_BASE_PRICE_SET,
    "dynamic": events_pb2.PRICE_CHANGE_CAUSE_DYNAMIC,
}


def price_changed_message(audited: price_store.AuditedChange) -> events_pb2.PriceChanged:
    change = audited.change
    message = events_pb2.PriceChanged(
        sku=change.sku,
        new_price=common_pb2.Money(amount=change.new_amount, currency=change.currency),
        cause=CAUSES[audited.cause],
        rule_id=audited.rule_id,
        triggering_event_id=audited.triggering_event_id,
        audit_id=audited.audit_id,
    )
    if change.old_amount is not None:
        message.old_price.CopyFrom(common_pb2.Money(amount=change.old_amount, currency=change.currency))
    return message


async def publish_price_changes(conn: AsyncConnection, changes: Sequence[price_store.AuditedChange]) -> None:
    """Stage one shop.pricing.price_changed per audited change, in the caller's transaction."""
    await add_events(
        conn, store.outbox, [(PRICE_CHANGED, price_changed_message(audited), audited.change.sku) for audited in changes]
    )


async def publish_coupon_redeemed(conn: AsyncConnection, redemption: Redemption) -> None:
    message = events_pb2.CouponRedeemed(
        code=redemption.code,
        promotion_id=redemption.promotion_id,
        customer_id=redemption.customer_id,
        idempotency_key=redemption.idempotency_key,
    )
    await add_event(conn, store.outbox, COUPON_REDEEMED, message, redemption.code)


async def handle_stock_level_changed(conn: AsyncConnection, msg: Msg) -> None:
    """Apply the SKU's dynamic-pricing rule to a new stock level (runs once per message: the inbox)."""
    await handle_stock_levels(conn, [msg])


async def handle_stock_levels(conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
    """Apply the dynamic-pricing rules to the stock levels of a batch of messages (in arrival order).

    A rule reacts to a SKU's latest total: of several events of one SKU in a batch only the last
    counts (one step per batch at most), and it is the audit's triggering event. Prices without a
    rule, a disabled rule, a price cooling down or already at its target stay as they are. Each
    change is audited and published in the caller's transaction, which also records every message
    in the inbox. Two statements for the whole batch when nothing moves.
    """
    latest: dict[str, tuple[Msg, inventory_events.StockLevelChanged]] = {}
    for msg in msgs:
        event = inventory_events.StockLevelChanged.FromString(msg.data)
        if not event.sku:
            log.warning("stock level event without a SKU ignored", extra={"message_id": message_id(msg)})
            continue
        latest.pop(event.sku, None)  # re-inserted: SKUs are handled in the order of their last event
        latest[event.sku] = (msg, event)
    governed = await dynamic_store.lock_governed_prices(conn, list(latest))
    if not governed:
        return
    now = datetime.now(UTC)
    changes: dict[str, list[price_store.BasePriceChange]] = {}
    rules: dict[str, DynamicRule] = {}
    for item in governed:
        price = item.price
        new_amount = next_price(item.rule, price, latest[price.sku][1].total_available, now)
        if new_amount is not None:
            changes.setdefault(price.sku, []).append(
                price_store.BasePriceChange(price.sku, price.currency, price.amount, new_amount)
            )
            rules[price.sku] = item.rule
    moves = [(c.sku, c.currency, c.new_amount) for moved in changes.values() for c in moved]
    await dynamic_store.move_prices(conn, moves, now)
    for sku, (msg, event) in latest.items():
        if sku not in changes:
            continue
        with processing(msg):  # the audit's event continues the triggering message's trace
            audited = await price_store.record_price_changes(
                conn,
                changes[sku],
                "dynamic",
                rule_id=rules[sku].id,
                triggering_event_id=message_id(msg),
                total_available=event.total_available,
            )
            await publish_price_changes(conn, audited)
    # The relay picks these up on its next poll (outbox_poll_interval_seconds): the consumer
    # commits the transaction after this handler returns, so there is nothing to wake yet.
