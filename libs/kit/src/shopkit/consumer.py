"""Durable JetStream pull consumers whose handlers apply each message once.

Messages are pulled in batches and a batch is applied in one transaction, together with the inbox
rows that record its message ids; a redelivered message finds its id there and changes nothing.
When a batch fails, its messages are applied one per transaction, so one bad message does not hold
up the others; a message that keeps failing is copied to the dead-letter stream with the error and
acknowledged, so it stops blocking others. A failure that is not the message's fault — the consumer's
own database or a service it asks is unreachable (`is_transient`) — is waited out instead: the message
is kept (its ack deadline extended) and applied again until it goes through, so an outage never sends
good events to the dead-letter stream, and the consumer does not run ahead of it meanwhile.

A handler that needs another service's answer (an order to mail about) gets it from `prefetch`,
which runs before the transaction opens: a remote call made inside the transaction would hold a
pooled connection and an open transaction for as long as that service takes to answer, and a slow
service under a burst of events would then exhaust the pool that the service's own API needs too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, cast

import grpc
import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shopkit import events, metrics, natsauth, tracing
from shopkit.db import Database
from shopkit.errors import DomainError

log = logging.getLogger("shopkit.consumer")

Handler = Callable[[AsyncConnection, Msg], Awaitable[None]]
# Applies several fresh messages (in delivery order) in the caller's transaction; its effect must be
# what the one-message handler would have done, message by message (it may coalesce, e.g. keep only
# the latest stock level of a SKU).
BatchHandler = Callable[[AsyncConnection, Sequence[Msg]], Awaitable[None]]

# With `prefetch`, the handler is called with a third argument: what prefetch returned for the message.
PrefetchedHandler = Callable[[AsyncConnection, Msg, Any], Awaitable[None]]
# Reads what the handler of a message will need from other services, outside any transaction. It
# may run again for the same message (a retry, a redelivery), so it must only read.
Prefetch = Callable[[Msg], Awaitable[Any]]

# The CONSUMER span of each message of the batch being applied, for `processing(msg)`.
_batch_spans: ContextVar[Mapping[int, Span] | None] = ContextVar("shopkit_consumer_batch_spans", default=None)
# What handlers asked to run once the transaction applying their messages has committed.
_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar("shopkit_consumer_after_commit", default=None)


# Pauses between the tries of a message held through an outage (well within any ack wait).
OUTAGE_FIRST_PAUSE = 0.25
OUTAGE_MAX_PAUSE = 5.0
# Between two looks for a source stream that does not exist yet.
STREAM_WAIT_PAUSE = 0.5
# Prefetches of one batch that may run at once (each holds a call to another service, not a connection).
PREFETCH_CONCURRENCY = 8
# SQLSTATE classes of failures of the database rather than of the statement: connection exceptions,
# insufficient resources, operator intervention (shutdown, crash recovery), and a transaction the
# server chose to abort (serialization failure, deadlock).
_TRANSIENT_SQLSTATES = ("08", "53", "57P", "40001", "40P01")
_TRANSIENT_GRPC = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether a handler failed because something it needs is unreachable for now (its database, a
    service it calls), not because of the message: anywhere in the exception's chain, a connection
    error, a timeout, a database failure by SQLSTATE, or a gRPC status (received, or raised as a
    DomainError) that says "try again"."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError)):
            return True
        if isinstance(current, DomainError) and current.code in _TRANSIENT_GRPC:
            return True
        if str(getattr(current, "sqlstate", "") or "").startswith(_TRANSIENT_SQLSTATES):
            return True
        if isinstance(current, grpc.aio.AioRpcError) and current.code() in _TRANSIENT_GRPC:
            return True
        if isinstance(current, sa.exc.DBAPIError) and current.connection_invalidated:
            return True
        orig = getattr(current, "orig", None)
        pending.extend([current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None])
    return False


def message_id(msg: Msg) -> str:
    """The publisher's id (Nats-Msg-Id = outbox id), or the stream sequence for foreign publishers."""
    headers = msg.headers or {}
    return headers.get("Nats-Msg-Id") or f"{msg.metadata.stream}:{msg.metadata.sequence.stream}"


def after_commit(callback: Callable[[], None]) -> None:
    """In a handler: call `callback` once the transaction that applies the message has committed
    (e.g. to wake a worker that reads what the handler wrote); never if it rolls back. Outside a
    consumer's transaction it is called at once."""
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


@contextlib.contextmanager
def processing(msg: Msg) -> Iterator[None]:
    """In a batch handler: make `msg`'s CONSUMER span current, so that what it stages (outbox
    events, statements) continues that message's trace."""
    span = (_batch_spans.get() or {}).get(id(msg))
    if span is None:
        yield
        return
    with trace.use_span(span, end_on_exit=False):
        yield


# Prefetch's place for a message the inbox already had: its redelivery changes nothing, so the call
# to the other service is spared.
_SKIPPED: Any = object()
# Not fetched yet (prefetch itself may return None).
_UNFETCHED: Any = object()


class _Failed:
    """Prefetch's place for a message whose prefetch raised: handled as a failure of its handler."""

    def __init__(self, exc: Exception):
        self.exc = exc


class _NotPrefetched(Exception):
    """A message skipped as applied turned out fresh in the transaction (its inbox row was swept
    in between): it is fetched and applied again."""


class EventConsumer:
    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        inbox: sa.Table,
        *,
        service: str,
        name: str,
        source_service: str,
        subjects: list[str],
        handler: Handler | PrefetchedHandler,
        batch_handler: BatchHandler | None = None,
        prefetch: Prefetch | None = None,
        prefetch_concurrency: int = PREFETCH_CONCURRENCY,
        max_deliver: int = 5,
        batch: int = 100,
        ack_wait: float = 30.0,
    ):
        """`handler(conn, msg)` applies one message in the inbox transaction; with `prefetch`, it is
        `handler(conn, msg, prefetch(msg))` and prefetch runs first, outside the transaction (see the
        module's docstring). A prefetch that raises is a failure of the message, retried, waited out
        or dead-lettered by the same rules as the handler's."""
        if prefetch is not None and batch_handler is not None:
            raise ValueError("a consumer with prefetch applies its messages one by one: no batch_handler")
        self.db = db
        self.js = js
        self.inbox = inbox
        self.service = service
        self.durable = natsauth.durable_name(service, name)
        self.stream = events.stream_name(source_service)
        self.source_service = source_service
        self.subjects = subjects
        self.handler = handler
        self.batch_handler = batch_handler
        self.prefetch = prefetch
        self.prefetch_concurrency = prefetch_concurrency
        self.max_deliver = max_deliver
        self.batch = batch
        self.ack_wait = ack_wait
        self._tracer = tracing.tracer("shopkit.consumer")
        # One statement text for any number of ids (prepared once); duplicates come back missing.
        ids = sa.select(
            sa.bindparam("consumer", type_=sa.Text), sa.func.unnest(sa.bindparam("ids", type_=ARRAY(sa.Text)))
        )
        self._record = (
            insert(inbox)
            .from_select([inbox.c.consumer, inbox.c.message_id], ids)
            .on_conflict_do_nothing()
            .returning(inbox.c.message_id)
        )
        self._applied = sa.select(inbox.c.message_id).where(
            inbox.c.consumer == sa.bindparam("consumer", type_=sa.Text),
            inbox.c.message_id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Text))),
        )

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        await self._wait_for_stream()
        await events.ensure_stream(self.js, events.dlq_config())
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            # One more than ours: the last delivery is the one that moves the message to the DLQ.
            max_deliver=self.max_deliver + 1,
            filter_subjects=self.subjects if len(self.subjects) > 1 else None,
            filter_subject=self.subjects[0] if len(self.subjects) == 1 else None,
        )
        await self._update_subjects(config)
        return await self.js.pull_subscribe(self.subjects[0], durable=self.durable, stream=self.stream, config=config)

    async def _update_subjects(self, config: ConsumerConfig) -> None:
        """A release that consumes other subjects (a webhook event type added, say) updates the durable
        consumer it finds: pull_subscribe binds to an existing one as it is, so the new subjects would
        never arrive. Its position and pending messages stay."""
        try:
            info = await self.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            return
        found = info.config.filter_subjects or ([info.config.filter_subject] if info.config.filter_subject else [])
        if sorted(found) == sorted(self.subjects):
            return
        log.info(
            "updating the subjects of consumer %s: %s -> %s",
            self.durable,
            found,
            self.subjects,
            extra={"consumer": self.durable, "stream": self.stream},
        )
        await self.js.add_consumer(self.stream, config=config.evolve(name=self.durable))

    async def _wait_for_stream(self) -> None:
        """The source stream is its service's to create (its NATS user alone may): until it exists, wait."""
        waited = False
        while True:
            try:
                await self.js.stream_info(self.stream)
                return
            except NotFoundError:
                if not waited:
                    log.info(
                        "waiting for the stream %s: %s creates it when it starts",
                        self.stream,
                        self.source_service,
                        extra={"consumer": self.durable, "stream": self.stream},
                    )
                    waited = True
                await asyncio.sleep(STREAM_WAIT_PAUSE)

    async def run(self) -> None:
        sub = await self.subscribe()
        try:
            while True:
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                await self.handle_batch(msgs)
        finally:
            # A fetch cancelled mid-delivery leaves an unfinished task in the subscription's queue,
            # and nc.drain() would wait for it until its timeout: unsubscribe first.
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def handle(self, msg: Msg) -> str:
        """Apply one message; returns the outcome (applied, duplicate, retried, dead_lettered)."""
        return (await self.handle_batch([msg]))[0]

    async def handle_batch(self, msgs: Sequence[Msg]) -> list[str]:
        """Apply messages in one transaction (one per message if that fails); their outcomes."""
        if not msgs:
            return []
        # One CONSUMER span per message, the child of its publisher's span.
        spans = [self._span(msg) for msg in msgs]
        try:
            fetched = await self._prefetch(msgs, spans, skip_applied=True) if self.prefetch else None
            outcomes = None
            if len(msgs) > 1 and not any(isinstance(value, _Failed) for value in fetched or []):
                outcomes = await self._apply_together(msgs, spans, fetched)
            if outcomes is None:
                outcomes = []
                for index, (msg, span) in enumerate(zip(msgs, spans, strict=True)):
                    with trace.use_span(span, end_on_exit=False):
                        outcomes.append(await self._apply(msg, fetched[index] if fetched else _UNFETCHED))
        finally:
            for span in spans:
                span.end()
        for msg, outcome in zip(msgs, outcomes, strict=True):
            metrics.EVENTS_CONSUMED.labels(self.durable, msg.subject, outcome).inc()
        return outcomes

    def _span(self, msg: Msg) -> Span:
        return self._tracer.start_span(
            f"{msg.subject} process",
            context=tracing.extract_context(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.durable,
            },
        )

    async def apply_once(self, msg: Msg) -> bool:
        """Run the handler and record the message id in one transaction. False: already applied."""
        return (await self.apply_batch_once([msg]))[0]

    async def apply_batch_once(
        self, msgs: Sequence[Msg], spans: Sequence[Span] | None = None, fetched: Sequence[Any] | None = None
    ) -> list[bool]:
        """Run the handler on the messages not yet applied and record their ids, in one
        transaction. Per message: True when applied now, False when applied before. With prefetch,
        `fetched` holds its results (fetched here, before the transaction, when not given)."""
        if self.prefetch is not None and fetched is None:
            fetched = await self._prefetch(msgs, spans or [trace.get_current_span()] * len(msgs), skip_applied=False)
            for value in fetched:
                if isinstance(value, _Failed):
                    raise value.exc
        ids = [message_id(msg) for msg in msgs]
        committed: list[Callable[[], None]] = []
        pending = _after_commit.set(committed)
        try:
            fresh = await self._apply_in_transaction(msgs, ids, spans, fetched)
        finally:
            _after_commit.reset(pending)
        for callback in committed:
            callback()
        return fresh

    async def _apply_in_transaction(
        self, msgs: Sequence[Msg], ids: Sequence[str], spans: Sequence[Span] | None, fetched: Sequence[Any] | None
    ) -> list[bool]:
        async with self.db.transaction() as conn:
            recorded = await conn.execute(self._record, {"consumer": self.durable, "ids": ids})
            inserted = set(recorded.scalars())
            fresh: list[bool] = []
            for id_ in ids:  # a repeated id in one batch is applied once, at its first delivery
                fresh.append(id_ in inserted)
                inserted.discard(id_)
            # Without spans of their own (one message), handlers run in the caller's span.
            current = trace.get_current_span()
            todo = [
                (msg, span, value)
                for msg, span, value, new in zip(
                    msgs, spans or [current] * len(msgs), fetched or [None] * len(msgs), fresh, strict=True
                )
                if new
            ]
            if self.batch_handler is not None and len(todo) > 1:
                token = _batch_spans.set({id(msg): span for msg, span, _ in todo})
                try:
                    await self.batch_handler(conn, [msg for msg, _, _ in todo])
                finally:
                    _batch_spans.reset(token)
            else:
                for msg, span, value in todo:
                    with trace.use_span(span, end_on_exit=False):
                        await self._call_handler(conn, msg, value)
        return fresh

    async def _call_handler(self, conn: AsyncConnection, msg: Msg, value: Any) -> None:
        if self.prefetch is None:
            await cast(Handler, self.handler)(conn, msg)
            return
        if value is _SKIPPED:
            raise _NotPrefetched(message_id(msg))
        await cast(PrefetchedHandler, self.handler)(conn, msg, value)

    async def _prefetch(self, msgs: Sequence[Msg], spans: Sequence[Span], *, skip_applied: bool) -> list[Any]:
        """Prefetch's result for each message, before any transaction opens: its value, `_Failed`,
        or (`skip_applied`) `_SKIPPED` for a message the inbox already has. They run concurrently,
        at most `prefetch_concurrency` at a time, each in its message's span."""
        assert self.prefetch is not None
        prefetch = self.prefetch
        applied = await self._already_applied(msgs) if skip_applied else set()
        limit = asyncio.Semaphore(self.prefetch_concurrency)

        async def one(msg: Msg, span: Span) -> Any:
            if message_id(msg) in applied:
                return _SKIPPED
            async with limit:
                with trace.use_span(span, end_on_exit=False):
                    try:
                        return await prefetch(msg)
                    except Exception as exc:
                        return _Failed(exc)

        return list(await asyncio.gather(*(one(msg, span) for msg, span in zip(msgs, spans, strict=True))))

    async def _already_applied(self, msgs: Sequence[Msg]) -> set[str]:
        """The ids of `msgs` the inbox holds, read on a connection given back at once. Only spares
        calls: when the read fails, every message is fetched (the transaction that follows finds
        out whether the database is there)."""
        try:
            async with self.db.connect() as conn:
                found = await conn.execute(
                    self._applied, {"consumer": self.durable, "ids": [message_id(m) for m in msgs]}
                )
                return set(found.scalars())
        except Exception:
            log.debug("inbox not read before prefetch", exc_info=True, extra={"consumer": self.durable})
            return set()

    async def _apply_together(
        self, msgs: Sequence[Msg], spans: Sequence[Span], fetched: Sequence[Any] | None
    ) -> list[str] | None:
        """Apply a batch in one transaction and acknowledge it; None when it failed (nothing applied)."""
        links = [Link(span.get_span_context()) for span in spans]
        with self._tracer.start_as_current_span(
            f"{self.durable} process batch",
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={"messaging.system": "nats", "messaging.batch.message_count": len(msgs)},
        ):
            try:
                fresh = await self.apply_batch_once(msgs, spans, fetched)
            except Exception:
                log.warning(
                    "event batch failed; applying its messages one at a time",
                    exc_info=True,
                    extra={"consumer": self.durable, "messages": len(msgs)},
                )
                return None
        # An ack lost here (crash, network) means a redelivery, which the inbox turns into a no-op.
        # ack() does not wait for the server's reply: a batch costs one flush, not one round trip each.
        for msg in msgs:
            await msg.ack()
        return ["applied" if new else "duplicate" for new in fresh]

    async def _apply(self, msg: Msg, fetched: Any = _UNFETCHED) -> str:
        try:
            fresh = await self._apply_through_outages(msg, fetched)
        except Exception as exc:
            delivered = msg.metadata.num_delivered
            if delivered >= self.max_deliver:
                await self._dead_letter(msg, exc)
                return "dead_lettered"
            log.warning(
                "event handler failed; will retry",
                exc_info=True,
                extra={"subject": msg.subject, "message_id": message_id(msg), "delivered": delivered},
            )
            await msg.nak(delay=min(30.0, 0.5 * 2**delivered))
            return "retried"
        await msg.ack()
        return "applied" if fresh else "duplicate"

    async def _apply_through_outages(self, msg: Msg, fetched: Any = _UNFETCHED) -> bool:
        """apply_once, repeated while it fails for a reason that is not the message's (`is_transient`).
        `fetched`: prefetch's result for the message, for the first try; later tries fetch again."""
        waited = 0
        while True:
            try:
                first, fetched = fetched, _UNFETCHED
                return await self._apply_fetched(msg, first)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                waited += 1
                pause = min(OUTAGE_MAX_PAUSE, OUTAGE_FIRST_PAUSE * 2 ** (waited - 1))
                log.warning(
                    "event handler failed on an outage; keeping the message and trying again in %.1fs",
                    pause,
                    exc_info=waited == 1,
                    extra={"subject": msg.subject, "message_id": message_id(msg), "consumer": self.durable},
                )
                await msg.in_progress()  # the ack deadline starts again: no redelivery while it waits
                await asyncio.sleep(pause)

    async def _apply_fetched(self, msg: Msg, fetched: Any) -> bool:
        """apply_once with prefetch's result for `msg` (fetched now when there is none)."""
        if self.prefetch is None:
            return await self.apply_once(msg)
        if fetched is _UNFETCHED:
            fetched = (await self._prefetch([msg], [trace.get_current_span()], skip_applied=True))[0]
        if isinstance(fetched, _Failed):
            raise fetched.exc
        try:
            return (await self.apply_batch_once([msg], None, [fetched]))[0]
        except _NotPrefetched:
            return await self.apply_once(msg)  # fetches, skipping nothing

    async def _dead_letter(self, msg: Msg, exc: Exception) -> None:
        headers = dict(msg.headers or {})
        headers.pop("Nats-Msg-Id", None)
        headers.update(
            {
                "Shop-Original-Subject": msg.subject,
                "Shop-Original-Message-Id": message_id(msg),
                "Shop-Consumer": self.durable,
                "Shop-Error": f"{type(exc).__name__}: {exc}"[:500],
            }
        )
        await self.js.publish(f"shop.dlq.{self.service}.{self.durable}", msg.data, headers=headers)
        await msg.ack()
        log.error(
            "event moved to the dead-letter stream",
            extra={"subject": msg.subject, "message_id": message_id(msg), "consumer": self.durable},
        )


async def sweep_inbox(db: Database, inbox: sa.Table, retention: timedelta, batch: int = 5000) -> int:
    """Delete inbox rows older than `retention` (their messages can no longer be redelivered)."""
    deleted = 0
    while True:
        async with db.transaction() as conn:
            old = (
                sa.select(inbox.c.consumer, inbox.c.message_id)
                .where(inbox.c.received_at < sa.func.now() - retention)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            result = await conn.execute(inbox.delete().where(sa.tuple_(inbox.c.consumer, inbox.c.message_id).in_(old)))
        deleted += result.rowcount
        if result.rowcount < batch:
            return deleted


async def run_inbox_sweeper(db: Database, inbox: sa.Table, retention: timedelta, every: float = 3600.0) -> None:
    while True:
        removed = await sweep_inbox(db, inbox, retention)
        if removed:
            log.info("inbox swept", extra={"deleted": removed})
        await asyncio.sleep(every)
