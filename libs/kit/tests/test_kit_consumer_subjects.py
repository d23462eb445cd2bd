"""A durable consumer whose subjects changed between releases (a webhook event type added) is updated
when it subscribes again: the new subjects arrive, and what it had not consumed yet is still there."""

from __future__ import annotations

from typing import Any

import test_kit_outbox as outbox_tests
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection
from test_kit_outbox import inbox

from shopkit.consumer import EventConsumer
from shopkit.db import Database

db = outbox_tests.db
js = outbox_tests.js


async def ignore(conn: AsyncConnection, msg: Msg) -> None:
    return None


def consumer(db: Database, js: Any, *events: str) -> EventConsumer:
    service = js.test_service
    return EventConsumer(
        db,
        js,
        inbox,
        service="kit",
        name=f"subjects-{service}",
        source_service=service,
        subjects=[f"shop.{service}.{event}" for event in events],
        handler=ignore,
    )


async def test_a_consumer_given_more_subjects_receives_them_and_keeps_its_backlog(db: Database, js: Any) -> None:
    service = js.test_service
    first = consumer(db, js, "placed")
    await first.subscribe()
    await js.publish(f"shop.{service}.placed", b"1")
    await js.publish(f"shop.{service}.paid", b"2")  # not consumed by the first release

    second = consumer(db, js, "placed", "paid")
    sub = await second.subscribe()
    info = await js.consumer_info(second.stream, second.durable)
    assert sorted(info.config.filter_subjects or []) == [f"shop.{service}.paid", f"shop.{service}.placed"]
    later = await js.publish(f"shop.{service}.paid", b"3")
    received = [msg.data for msg in await sub.fetch(3, timeout=5)]
    assert b"1" in received and b"3" in received and later.seq > 0
    # Subscribing again with the same subjects changes nothing.
    await consumer(db, js, "placed", "paid").subscribe()
    again = await js.consumer_info(second.stream, second.durable)
    assert again.config.filter_subjects == info.config.filter_subjects
