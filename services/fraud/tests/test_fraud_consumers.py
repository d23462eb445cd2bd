"""Order events from JetStream feed the counters: shop.order.placed adds to velocity and the amount
history, shop.order.cancelled takes an order out of the history, and a redelivery applies once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2 as R
from shop.order.v1 import events_pb2 as order_events
from shop.order.v1 import order_pb2
from shop_fraud import events, store
from shop_fraud.domain.purchase import Hasher, KeyKind, normalise_email
from shop_fraud.domain.signals import WindowCounts
from shopkit import events as kit_events
from shopkit.consumer import EventConsumer
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import FraudService


def order_placed(customer_id: str, email: str, amount: int, placed_at: datetime, checkout_id: str = "") -> bytes:
    created = common_pb2.Money(amount=amount, currency="USD")
    order = order_pb2.Order(
        order_id=str(uuid.uuid4()),
        number="SO-000001",
        checkout_id=checkout_id or f"co-{uuid.uuid4().hex[:12]}",
        customer_id=customer_id,
        email=email,
        channel="web",
        status=order_pb2.ORDER_STATUS_CONFIRMED,
        currency="USD",
        totals=order_pb2.OrderTotals(subtotal=created, total=created),
    )
    order.created_at.FromDatetime(placed_at)
    return order_events.OrderPlaced(order=order).SerializeToString()


async def publish(js: JetStreamContext, subject: str, payload: bytes, message_id: str | None = None) -> Any:
    await kit_events.ensure_stream(js, kit_events.stream_config("order"))
    return await js.publish(subject, payload, headers={"Nats-Msg-Id": message_id or str(uuid.uuid4())})


async def customer_counts(fraud: FraudService, customer_id: str, email: str) -> dict[KeyKind, WindowCounts]:
    hasher = Hasher(fraud.settings.counter_key_secret.encode())
    keys = [
        (KeyKind.CUSTOMER, hasher.key(KeyKind.CUSTOMER, customer_id)),
        (KeyKind.EMAIL, hasher.key(KeyKind.EMAIL, normalise_email(email))),
    ]
    async with fraud.runtime.db.connect() as conn:
        velocity = await store.velocity(conn, keys, now=fraud.clock(), exclude_ref="", buyer=b"", card=None)
    return dict(velocity.counts)


async def inbox_has(fraud: FraudService, message_id: str) -> bool:
    rows = await fraud.sql("SELECT 1 FROM inbox WHERE message_id = :m", m=message_id)
    return bool(rows)


async def test_order_placed_feeds_the_counters_once(fraud: FraudService, js: JetStreamContext) -> None:
    customer, email = f"cust-{fraud.unique()}", f"Buyer.{fraud.unique()}+shop@example.com"
    assert await customer_counts(fraud, customer, email) == {}
    message_id = str(uuid.uuid4())
    placed_at = fraud.clock() - timedelta(minutes=30)
    ack = await publish(js, events.ORDER_PLACED, order_placed(customer, email, 4_000, placed_at), message_id)

    async def counted() -> bool:
        return bool(await customer_counts(fraud, customer, email))

    await eventually(counted)
    expected = {KeyKind.CUSTOMER: WindowCounts(1, 1, 1), KeyKind.EMAIL: WindowCounts(1, 1, 1)}
    assert await customer_counts(fraud, customer, email) == expected

    # JetStream drops a duplicate publish; a redelivery of the stored message is a no-op (inbox).
    duplicate = await publish(js, events.ORDER_PLACED, order_placed(customer, email, 4_000, placed_at), message_id)
    assert duplicate.duplicate and duplicate.seq == ack.seq
    replay = await js.pull_subscribe(
        events.ORDER_PLACED,
        stream=kit_events.stream_name("order"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=ack.seq),
    )
    [msg] = await replay.fetch(1, timeout=5)
    await replay.unsubscribe()
    consumers = events.Consumers(Hasher(fraud.settings.counter_key_secret.encode()), fraud.clock)
    same_consumer = EventConsumer(
        fraud.runtime.db,
        fraud.runtime.js,
        store.inbox,
        service="fraud",
        name=events.ORDER_CONSUMER,
        source_service="order",
        subjects=[events.ORDER_PLACED, events.ORDER_CANCELLED],
        handler=consumers.handle_order_event,
    )
    assert await same_consumer.handle(msg) == "duplicate"
    assert await customer_counts(fraud, customer, email) == expected
    rows = await fraud.sql(
        "SELECT count(*) AS n FROM customer_orders WHERE amount = 4000 AND placed_at = :t", t=placed_at
    )
    assert rows[0].n == 1

    # The attempt and the order of one checkout are one purchase; a new checkout is another.
    purchase = fraud.context(customer_id=customer, email=email)
    await fraud.assess(purchase, checkout_id="co-shared-" + fraud.unique())
    attempt = await fraud.sql("SELECT ref FROM observations WHERE source = 'attempt' ORDER BY id DESC LIMIT 1")
    shared = attempt[0].ref
    before = await customer_counts(fraud, customer, email)
    assert before[KeyKind.CUSTOMER] == WindowCounts(2, 2, 2)
    marker = str(uuid.uuid4())
    await publish(js, events.ORDER_PLACED, order_placed(customer, email, 5_000, fraud.clock(), shared), marker)

    async def applied() -> bool:
        return await inbox_has(fraud, marker)

    await eventually(applied)
    assert await customer_counts(fraud, customer, email) == before


async def test_order_history_drives_the_amount_rule_and_cancellation_removes_orders(
    fraud: FraudService, js: JetStreamContext
) -> None:
    customer, email = f"cust-{fraud.unique()}", f"buyer-{fraud.unique()}@example.com"
    two_days_ago = fraud.clock() - timedelta(days=2)
    placed = [order_placed(customer, email, 2_000, two_days_ago - timedelta(hours=i)) for i in range(3)]
    for payload in placed:
        await publish(js, events.ORDER_PLACED, payload)
    first_order = order_events.OrderPlaced.FromString(placed[0]).order.order_id

    async def three_orders() -> bool:
        rows = await fraud.sql(
            "SELECT count(*) AS n FROM customer_orders WHERE amount = 2000 AND placed_at <= :t", t=two_days_ago
        )
        counts = await customer_counts(fraud, customer, email)
        return bool(rows[0].n >= 3) and counts.get(KeyKind.CUSTOMER) == WindowCounts(0, 0, 3)

    await eventually(three_orders)
    big = await fraud.assess(fraud.context(customer_id=customer, email=email, amount=20_000))
    above = [r for r in big.reasons if r.code == R.REASON_CODE_AMOUNT_ABOVE_HISTORY]
    assert above and "median 2000 of 3 past orders" in above[0].detail
    assert R.REASON_CODE_CUSTOMER_VELOCITY not in [r.code for r in big.reasons]  # 4 in 7 days is fine
    usual = await fraud.assess(fraud.context(customer_id=customer, email=email, amount=3_000))
    assert R.REASON_CODE_AMOUNT_ABOVE_HISTORY not in [r.code for r in usual.reasons]

    marker = str(uuid.uuid4())
    cancelled = order_events.OrderCancelled(order_id=first_order, customer_id=customer)
    await publish(js, events.ORDER_CANCELLED, cancelled.SerializeToString(), marker)

    async def applied() -> bool:
        return await inbox_has(fraud, marker)

    await eventually(applied)
    rows = await fraud.sql("SELECT cancelled FROM customer_orders WHERE order_id = :o", o=first_order)
    assert rows[0].cancelled is True
    again = await fraud.assess(fraud.context(customer_id=customer, email=email, amount=20_000))
    assert R.REASON_CODE_AMOUNT_ABOVE_HISTORY not in [r.code for r in again.reasons]  # 2 orders: no history yet
