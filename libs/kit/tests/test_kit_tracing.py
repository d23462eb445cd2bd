"""One trace from a client call through the server, the outbox relay and a NATS consumer."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from kit_helpers import SERVICE, register, stub
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shopkit import events, tracing
from shopkit.clients import make_channel
from shopkit.consumer import EventConsumer, processing
from shopkit.db import Database
from shopkit.outbox import OutboxRelay, add_event, inbox_table, outbox_table
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings
from shopkit.testing import Postgres

metadata = sa.MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("kit-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def db(postgres: Postgres) -> AsyncIterator[Database]:
    database = Database(postgres.create_database("trace"))
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    matches = [s for s in finished if s.name == name]
    assert matches, f"no span {name!r} among {[s.name for s in finished]}"
    return matches[0]


async def test_trace_context_crosses_grpc_and_nats(spans: InMemorySpanExporter, db: Database, nats_url: str) -> None:
    topic = f"trace{os.urandom(3).hex()}"
    subject = f"shop.{topic}.paid"
    nc = await events.connect(nats_url, "trace-test")
    js = nc.jetstream()
    await events.ensure_stream(js, StreamConfig(name=events.stream_name(topic), subjects=[f"shop.{topic}.>"]))

    async def pay(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
        async with db.transaction() as conn:
            await add_event(conn, outbox, subject, request)
        return request

    received: list[int] = []

    async def apply(conn: AsyncConnection, msg: Msg) -> None:
        received.append(common_pb2.Money.FromString(msg.data).amount)

    server = GrpcService(ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0))
    server.add_servicer(register({"Pay": pay}), None, SERVICE)
    await server.start()
    channel = make_channel(f"127.0.0.1:{server.port}", [])
    try:
        with tracing.tracer("test").start_as_current_span("storefront request"):
            await stub(channel, "Pay")(common_pb2.Money(amount=42, currency="USD"))
        await OutboxRelay(db, js, outbox).publish_batch()
        consumer = EventConsumer(
            db, js, inbox, service="kit", name=topic, source_service=topic, subjects=[subject], handler=apply
        )
        sub = await consumer.subscribe()
        for msg in await sub.fetch(1, timeout=5):
            assert await consumer.handle(msg) == "applied"
    finally:
        await channel.close(None)
        await server.stop()
        await nc.close()

    assert received == [42]
    finished = spans.get_finished_spans()
    root = by_name(finished, "storefront request")
    chain = {
        kind: [s for s in finished if s.name == name and s.kind == kind]
        for name, kind in (
            (f"{SERVICE}/Pay", SpanKind.CLIENT),
            (f"{SERVICE}/Pay", SpanKind.SERVER),
            (f"{subject} publish", SpanKind.PRODUCER),
            (f"{subject} process", SpanKind.CONSUMER),
        )
    }
    for kind, found in chain.items():
        assert len(found) == 1, kind
        assert found[0].context.trace_id == root.context.trace_id, kind
    client_span = chain[SpanKind.CLIENT][0]
    server_span = chain[SpanKind.SERVER][0]
    producer, consumer_span = chain[SpanKind.PRODUCER][0], chain[SpanKind.CONSUMER][0]
    assert client_span.parent is not None and client_span.parent.span_id == root.context.span_id
    assert server_span.parent is not None and server_span.parent.span_id == client_span.context.span_id
    # The relay publishes later, outside the request, yet its span continues the request's trace.
    assert producer.parent is not None and producer.parent.span_id == server_span.context.span_id
    assert consumer_span.parent is not None and consumer_span.parent.span_id == producer.context.span_id


async def test_a_batch_keeps_one_consumer_span_per_message(
    spans: InMemorySpanExporter, db: Database, nats_url: str
) -> None:
    topic = f"trace{os.urandom(3).hex()}"
    subject = f"shop.{topic}.paid"
    nc = await events.connect(nats_url, "trace-batch-test")
    js = nc.jetstream()
    await events.ensure_stream(js, StreamConfig(name=events.stream_name(topic), subjects=[f"shop.{topic}.>"]))
    roots = []
    for amount in (1, 2, 3):  # three requests, three traces
        with tracing.tracer("test").start_as_current_span(f"request {amount}") as root:
            async with db.transaction() as conn:
                await add_event(conn, outbox, subject, common_pb2.Money(amount=amount, currency="USD"))
            roots.append(root)

    async def one(conn: AsyncConnection, msg: Msg) -> None:
        raise AssertionError("a batch of three goes to the batch handler")

    async def many(conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            with processing(msg):  # what a message causes continues its trace
                await add_event(conn, outbox, f"shop.{topic}.settled", common_pb2.Money.FromString(msg.data))

    try:
        await OutboxRelay(db, js, outbox).publish_batch()
        consumer = EventConsumer(
            db,
            js,
            inbox,
            service="kit",
            name=topic,
            source_service=topic,
            subjects=[subject],
            handler=one,
            batch_handler=many,
        )
        sub = await consumer.subscribe()
        msgs = await sub.fetch(3, timeout=5)
        assert await consumer.handle_batch(msgs) == ["applied"] * 3
    finally:
        await nc.close()

    finished = spans.get_finished_spans()
    producers = {s.context.trace_id: s for s in finished if s.name == f"{subject} publish"}
    consumers = [s for s in finished if s.name == f"{subject} process" and s.kind == SpanKind.CONSUMER]
    assert sorted(producers) == sorted(root.get_span_context().trace_id for root in roots)
    assert len(consumers) == 3
    for consumed in consumers:
        producer = producers[consumed.context.trace_id]
        assert consumed.parent is not None and consumed.parent.span_id == producer.context.span_id
    async with db.connect() as conn:
        staged = (
            await conn.execute(sa.select(outbox.c.headers).where(outbox.c.subject == f"shop.{topic}.settled"))
        ).all()
    staged_traces = sorted(int(row.headers["traceparent"].split("-")[1], 16) for row in staged)
    assert staged_traces == sorted(producers)
