"""The composition every service shares: logging, tracing, database, NATS, the outbox relay and
the gRPC server. A service's `main` builds a Runtime, registers its servicer and consumers, runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shopkit import events, tracing
from shopkit.consumer import BatchHandler, EventConsumer, Handler, Prefetch, PrefetchedHandler, run_inbox_sweeper
from shopkit.db import Database
from shopkit.logs import setup_logging
from shopkit.outbox import OutboxRelay
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings


@dataclass
class Runtime:
    name: str
    settings: ServiceSettings
    db: Database
    nc: NATS
    js: JetStreamContext
    service: GrpcService
    relay: OutboxRelay | None
    _inbox_swept: bool = False

    def consume(
        self,
        inbox: sa.Table,
        *,
        name: str,
        source_service: str,
        subjects: list[str],
        handler: Handler | PrefetchedHandler,
        batch_handler: BatchHandler | None = None,
        prefetch: Prefetch | None = None,
    ) -> EventConsumer:
        """Run a durable consumer of another service's events while the server serves
        (`batch_handler`, `prefetch`: see EventConsumer)."""
        consumer = EventConsumer(
            self.db,
            self.js,
            inbox,
            service=self.name,
            name=name,
            source_service=source_service,
            subjects=subjects,
            handler=handler,
            batch_handler=batch_handler,
            prefetch=prefetch,
            max_deliver=self.settings.consumer_max_deliver,
        )
        self.service.add_worker(f"consumer-{name}", consumer.run)
        if not self._inbox_swept:
            retention = timedelta(hours=self.settings.inbox_retention_hours)
            self.service.add_worker("inbox-sweeper", lambda: run_inbox_sweeper(self.db, inbox, retention))
            self._inbox_swept = True
        return consumer


async def open_runtime(name: str, settings: ServiceSettings, *, outbox: sa.Table | None) -> Runtime:
    """Connect everything a service needs. `outbox` is the service's outbox table, if it publishes."""
    setup_logging(settings.service_name or name, settings.log_level, settings.log_format)
    tracing.setup_tracing(settings.service_name or name, settings.otel_exporter_otlp_endpoint)
    db = Database(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    # As the NATS user in NATS_URL (one per service, `shopkit.natsauth`): its own stream only here;
    # the dead-letter stream is ensured by its consumers, if it runs any.
    nc = await events.connect(settings.nats_url, name=name)
    js = nc.jetstream()
    await events.ensure_stream(js, events.stream_config(name))
    service = GrpcService(settings)
    service.on_stop(db.dispose)
    service.on_stop(nc.drain)
    relay = None
    if outbox is not None:
        relay = OutboxRelay(
            db, js, outbox, batch_size=settings.outbox_batch_size, poll_interval=settings.outbox_poll_interval_seconds
        )
        service.add_worker("outbox-relay", relay.run)
    return Runtime(name, settings, db, nc, js, service, relay)
