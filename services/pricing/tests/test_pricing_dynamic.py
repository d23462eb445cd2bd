"""Dynamic pricing end to end: StockLevelChanged through JetStream -> bounded change, audit, event;
a redelivered message changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.common.v1 import common_pb2
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.pricing.v1 import events_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shop_pricing import events, store
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.consumer import EventConsumer
from shopkit.errors import parse_rpc_error
from shopkit.testing import eventually

ADMIN = metadata_for("admin")
SUBJECT = "shop.inventory.stock_level_changed"


async def publish_stock(js: JetStreamContext, sku: str, total_available: int, message_id: str) -> Any:
    await kit_events.ensure_stream(js, kit_events.stream_config("inventory"))
    event = inventory_events.StockLevelChanged(
        sku=sku,
        location_id="wh-1",
        on_hand=total_available,
        available=total_available,
        total_available=total_available,
        cause="adjust",
    )
    return await js.publish(SUBJECT, event.SerializeToString(), headers={"Nats-Msg-Id": message_id})


async def base_price(stub: Any, sku: str, currency: str = "USD") -> int:
    response = await stub.GetPrice(
        pb.GetPriceRequest(sku=sku, context=common_pb2.CustomerContext(currency=currency)), metadata=ADMIN
    )
    return int(response.price.unit_price.amount)


async def changes(stub: Any, sku: str) -> list[pb.PriceChange]:
    response = await stub.ListPriceChanges(pb.ListPriceChangesRequest(sku=sku), metadata=ADMIN)
    return [c for c in response.changes if c.cause == events_pb2.PRICE_CHANGE_CAUSE_DYNAMIC]


async def put_rule(stub: Any, rule_id: str, skus: list[str], **fields: Any) -> pb.PutDynamicRuleResponse:
    values: dict[str, Any] = {
        "low_stock_threshold": 10,
        "raise_bp": 2000,
        "high_stock_threshold": 100,
        "lower_bp": 1000,
        "floor_bp": 8500,
        "ceiling_bp": 11_500,
        "max_step_bp": 500,
        "cooldown_seconds": 0,
        "enabled": True,
    }
    values.update(fields)
    rule = pb.DynamicRule(id=rule_id, name=rule_id, skus=skus, **values)
    response: pb.PutDynamicRuleResponse = await stub.PutDynamicRule(pb.PutDynamicRuleRequest(rule=rule), metadata=ADMIN)
    return response


async def test_low_stock_raises_the_price_once_per_message(pricing: Any, unique: str, js: JetStreamContext) -> None:
    stub = pricing.stub
    sku = f"{unique}-DYN"
    await stub.SetBasePrices(
        pb.SetBasePricesRequest(
            prices=[
                pb.BasePrice(sku=sku, price=common_pb2.Money(amount=10_000, currency="USD")),
                pb.BasePrice(sku=sku, price=common_pb2.Money(amount=9_000, currency="EUR")),
            ]
        ),
        metadata=ADMIN,
    )
    await put_rule(stub, f"{unique}-rule", [sku])

    message_id = str(uuid.uuid4())
    ack = await publish_stock(js, sku, 3, message_id)

    async def moved() -> bool:
        return await base_price(stub, sku) == 10_500 and await base_price(stub, sku, "EUR") == 9_450

    await eventually(moved)  # one step of max 5% of the anchor, in every currency of the SKU
    audit = await changes(stub, sku)
    assert sorted((c.new_price.currency, c.old_price.amount, c.new_price.amount) for c in audit) == [
        ("EUR", 9_000, 9_450),
        ("USD", 10_000, 10_500),
    ]
    assert {(c.rule_id, c.triggering_event_id, c.total_available) for c in audit} == {(f"{unique}-rule", message_id, 3)}

    # The price_changed events reach NATS.
    sub = await js.pull_subscribe(
        "shop.pricing.price_changed",
        stream=kit_events.stream_name("pricing"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    published: list[events_pb2.PriceChanged] = []

    async def published_both() -> bool:
        try:
            batch = await sub.fetch(500, timeout=0.5)
        except TimeoutError:
            return False
        published.extend(
            e
            for e in (events_pb2.PriceChanged.FromString(m.data) for m in batch)
            if e.sku == sku and e.cause == events_pb2.PRICE_CHANGE_CAUSE_DYNAMIC
        )
        return len(published) == 2

    await eventually(published_both)
    assert {(e.triggering_event_id, e.rule_id) for e in published} == {(message_id, f"{unique}-rule")}

    # The same message id again: JetStream drops the duplicate publish...
    duplicate = await publish_stock(js, sku, 3, message_id)
    assert duplicate.duplicate and duplicate.seq == ack.seq
    # ...and a redelivery of the stored message to the consumer is a no-op thanks to the inbox.
    redelivery = await js.pull_subscribe(
        SUBJECT,
        stream=kit_events.stream_name("inventory"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=ack.seq),
    )
    [msg] = await redelivery.fetch(1, timeout=5)
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == message_id
    same_consumer = EventConsumer(
        pricing.runtime.db,
        pricing.runtime.js,
        store.inbox,
        service="pricing",
        name=events.DYNAMIC_PRICING_CONSUMER,
        source_service="inventory",
        subjects=[SUBJECT],
        handler=events.handle_stock_level_changed,
    )
    assert await same_consumer.handle(msg) == "duplicate"
    assert await base_price(stub, sku) == 10_500  # cooldown 0: a second application would have moved it
    assert len(await changes(stub, sku)) == 2

    # A new message moves it one more step; high stock later brings it down step by step.
    await publish_stock(js, sku, 2, str(uuid.uuid4()))

    async def second_step() -> bool:
        return await base_price(stub, sku) == 11_000

    await eventually(second_step)
    await publish_stock(js, sku, 500, str(uuid.uuid4()))

    async def lowered() -> bool:
        return await base_price(stub, sku) == 10_500

    await eventually(lowered)


async def test_cooldown_bounds_and_skus_without_rules(pricing: Any, unique: str, js: JetStreamContext) -> None:
    stub = pricing.stub
    slow, free = f"{unique}-SLOW", f"{unique}-FREE"
    await stub.SetBasePrices(
        pb.SetBasePricesRequest(
            prices=[
                pb.BasePrice(sku=slow, price=common_pb2.Money(amount=2_000, currency="USD")),
                pb.BasePrice(sku=free, price=common_pb2.Money(amount=2_000, currency="USD")),
            ]
        ),
        metadata=ADMIN,
    )
    await put_rule(stub, f"{unique}-slow", [slow], cooldown_seconds=3600, max_step_bp=10_000, currency="USD")

    await publish_stock(js, slow, 1, str(uuid.uuid4()))
    await publish_stock(js, free, 1, str(uuid.uuid4()))

    async def jumped() -> bool:
        return await base_price(stub, slow) == 2_300  # target 120% clamped to the 115% ceiling in one step

    await eventually(jumped)
    await publish_stock(js, slow, 500, str(uuid.uuid4()))  # would lower, but the rule is cooling down
    marker = str(uuid.uuid4())
    await publish_stock(js, free, 0, marker)

    async def marker_seen() -> bool:  # messages are handled in order: the slow one was handled before
        async with pricing.runtime.db.connect() as conn:
            row = (
                await conn.execute(sa.select(store.inbox.c.message_id).where(store.inbox.c.message_id == marker))
            ).first()
        return row is not None

    await eventually(marker_seen)
    assert await base_price(stub, slow) == 2_300
    assert len(await changes(stub, slow)) == 1
    assert await base_price(stub, free) == 2_000 and await changes(stub, free) == []

    # Setting the base price resets the anchor: the rule now moves around the new price.
    await stub.SetBasePrices(
        pb.SetBasePricesRequest(prices=[pb.BasePrice(sku=slow, price=common_pb2.Money(amount=3_000, currency="USD"))]),
        metadata=ADMIN,
    )
    assert await base_price(stub, slow) == 3_000


async def test_rule_admin(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    a, b = f"{unique}-RA", f"{unique}-RB"
    created = await put_rule(stub, f"{unique}-one", [a, b])
    assert sorted(created.rule.skus) == [a, b] and created.rule.low_stock_threshold == 10
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await put_rule(stub, f"{unique}-two", [b])
    error = parse_rpc_error(raised.value)
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SKU_HAS_DYNAMIC_RULE")

    replaced = await put_rule(stub, f"{unique}-one", [a], enabled=False)  # replace: b is free again
    assert list(replaced.rule.skus) == [a] and not replaced.rule.enabled
    await put_rule(stub, f"{unique}-two", [b])
    listed = await stub.ListDynamicRules(pb.ListDynamicRulesRequest(), metadata=ADMIN)
    ours = {r.id: list(r.skus) for r in listed.rules if r.id.startswith(unique)}
    assert ours == {f"{unique}-one": [a], f"{unique}-two": [b]}

    await stub.DeleteDynamicRule(pb.DeleteDynamicRuleRequest(id=f"{unique}-one"), metadata=ADMIN)
    await stub.DeleteDynamicRule(pb.DeleteDynamicRuleRequest(id=f"{unique}-one"), metadata=ADMIN)  # idempotent
    listed = await stub.ListDynamicRules(pb.ListDynamicRulesRequest(), metadata=ADMIN)
    assert [r.id for r in listed.rules if r.id.startswith(unique)] == [f"{unique}-two"]


def stock_message(nc: Any, sku: str, total_available: int, message_id: str) -> Msg:
    event = inventory_events.StockLevelChanged(sku=sku, location_id="wh-1", total_available=total_available)
    return Msg(nc, subject=SUBJECT, data=event.SerializeToString(), headers={"Nats-Msg-Id": message_id})


async def test_a_batch_moves_each_sku_once_from_its_latest_stock_level(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    both, usd_only, free = f"{unique}-BOTH", f"{unique}-USD", f"{unique}-FREE"
    await stub.SetBasePrices(
        pb.SetBasePricesRequest(
            prices=[
                pb.BasePrice(sku=both, price=common_pb2.Money(amount=10_000, currency="USD")),
                pb.BasePrice(sku=both, price=common_pb2.Money(amount=9_000, currency="EUR")),
                pb.BasePrice(sku=usd_only, price=common_pb2.Money(amount=2_000, currency="USD")),
                pb.BasePrice(sku=usd_only, price=common_pb2.Money(amount=1_800, currency="EUR")),
                pb.BasePrice(sku=free, price=common_pb2.Money(amount=500, currency="USD")),
            ]
        ),
        metadata=ADMIN,
    )
    await put_rule(stub, f"{unique}-both", [both])
    await put_rule(stub, f"{unique}-usd", [usd_only], currency="USD")
    ids = [str(uuid.uuid4()) for _ in range(5)]
    batch = [
        stock_message(pricing.runtime.nc, both, 3, ids[0]),
        stock_message(pricing.runtime.nc, usd_only, 50, ids[1]),
        stock_message(pricing.runtime.nc, both, 2, ids[2]),  # the latest for `both`: one step, not two
        stock_message(pricing.runtime.nc, free, 0, ids[3]),  # no rule
        stock_message(pricing.runtime.nc, usd_only, 500, ids[4]),  # the latest for `usd_only`: high stock
    ]
    async with pricing.runtime.db.transaction() as conn:
        await events.handle_stock_levels(conn, batch)

    assert (await base_price(stub, both), await base_price(stub, both, "EUR")) == (10_500, 9_450)
    assert (await base_price(stub, usd_only), await base_price(stub, usd_only, "EUR")) == (1_900, 1_800)
    assert await base_price(stub, free) == 500 and await changes(stub, free) == []
    audit = await changes(stub, both) + await changes(stub, usd_only)
    assert sorted((c.sku, c.new_price.currency, c.triggering_event_id, c.total_available) for c in audit) == sorted(
        [(both, "USD", ids[2], 2), (both, "EUR", ids[2], 2), (usd_only, "USD", ids[4], 500)]
    )
    async with pricing.runtime.db.connect() as conn:
        staged = (
            await conn.execute(sa.select(store.outbox.c.payload).where(store.outbox.c.subject == events.PRICE_CHANGED))
        ).scalars()
        published = [events_pb2.PriceChanged.FromString(payload) for payload in staged]
    dynamic = [e for e in published if e.sku in (both, usd_only) and e.cause == events_pb2.PRICE_CHANGE_CAUSE_DYNAMIC]
    assert sorted((e.sku, e.triggering_event_id) for e in dynamic) == sorted(
        [(both, ids[2]), (both, ids[2]), (usd_only, ids[4])]
    )
