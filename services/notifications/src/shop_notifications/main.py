"""Composition root of the notifications service: `shop-notifications serve | migrate | settings`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shop.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shop_notifications import access, events, store, tables
from shop_notifications.api import NotificationsServicer
from shop_notifications.domain import RetryPolicy
from shop_notifications.operations import Clock, Notifications, utc_now
from shop_notifications.orders import Orders
from shop_notifications.personal_data import NotificationsPersonalData
from shop_notifications.settings import NotificationsSettings
from shop_notifications.smtp import Mailer
from shop_notifications.templates import Templates
from shop_notifications.webhook_domain import INVENTORY_EVENTS, ORDER_EVENTS, PRICING_EVENTS, Backoff
from shop_notifications.webhook_transport import webhook_client
from shop_notifications.webhooks import Webhooks
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


def mailer(settings: NotificationsSettings) -> Mailer:
    return Mailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        implicit_tls=settings.smtp_tls,
        timeout=settings.smtp_timeout_seconds,
        max_idle_sessions=settings.sender_concurrency if settings.smtp_idle_seconds else 0,
        idle_seconds=settings.smtp_idle_seconds,
    )


async def build(settings: NotificationsSettings, *, clock: Clock = utc_now) -> Runtime:
    # The outbox carries one event only: shop.notifications.customer_erased (see personal_data).
    runtime = await open_runtime("notifications", settings, outbox=tables.outbox)
    retry = RetryPolicy(
        settings.max_attempts,
        timedelta(seconds=settings.retry_base_seconds),
        timedelta(seconds=settings.retry_max_seconds),
    )
    smtp = mailer(settings)
    runtime.service.on_stop(smtp.close)
    notifications = Notifications(
        runtime.db,
        Templates(settings.storefront_url),
        smtp,
        retry,
        lease=timedelta(seconds=settings.send_lease_seconds),
        concurrency=settings.sender_concurrency,
        clock=clock,
    )
    servicer = NotificationsServicer(notifications)
    servicer.webhooks = webhooks(runtime, settings, clock)
    servicer.personal_data = NotificationsPersonalData(runtime.db, runtime.relay)
    runtime.service.add_servicer(
        notifications_pb2_grpc.add_NotificationsServiceServicer_to_server,
        servicer,
        notifications_pb2.DESCRIPTOR.services_by_name["NotificationsService"].full_name,
        access.CALLERS,
    )
    orders = Orders(settings, settings.order_addr)
    runtime.service.on_stop(orders.close)
    handler = events.OrderEvents(
        orders,
        notifications,
        approvers=settings.approvers,
        approvals_to=settings.approvals_to,
        stale_after=timedelta(hours=settings.stale_event_hours) if settings.stale_event_hours else None,
        clock=clock,
    )
    runtime.consume(
        store.inbox,
        name=events.ORDER_CONSUMER,
        source_service="order",
        subjects=events.SUBJECTS,
        handler=handler.handle,
        prefetch=handler.prefetch,
    )
    if settings.sender_enabled:
        runtime.service.add_worker("mail-sender", lambda: notifications.run_sender(settings.sender_poll_seconds))
    if settings.retention_days:
        retention = timedelta(days=settings.retention_days)
        runtime.service.add_worker("mail-retention", lambda: notifications.run_retention(retention))
    return runtime


# The durable consumers of webhook deliveries ("notifications-order-webhooks", ...; see natsauth).
ORDER_WEBHOOKS = "order-webhooks"
INVENTORY_WEBHOOKS = "inventory-webhooks"
PRICING_WEBHOOKS = "pricing-webhooks"


def webhooks(runtime: Runtime, settings: NotificationsSettings, clock: Clock) -> Webhooks:
    """Outbound webhooks: their own consumers (one per source stream, apart from the mails' so a slow
    order service delays no webhook), sender and retention."""
    client = webhook_client(settings.webhook_timeout_seconds, allow_private=settings.webhook_allow_private_targets)
    runtime.service.on_stop(client.aclose)
    backoff = Backoff(
        settings.webhook_max_attempts,
        timedelta(seconds=settings.webhook_retry_base_seconds),
        timedelta(seconds=settings.webhook_retry_max_seconds),
    )
    hooks = Webhooks(
        runtime.db,
        client,
        backoff,
        allow_private=settings.webhook_allow_private_targets,
        lease=timedelta(seconds=settings.webhook_lease_seconds),
        concurrency=settings.webhook_concurrency,
        clock=clock,
    )
    if not settings.webhooks_enabled:
        return hooks
    one, batch = hooks.handle, hooks.handle_batch
    runtime.consume(
        store.inbox,
        name=ORDER_WEBHOOKS,
        source_service="order",
        subjects=list(ORDER_EVENTS),
        handler=one,
        batch_handler=batch,
    )
    runtime.consume(
        store.inbox,
        name=INVENTORY_WEBHOOKS,
        source_service="inventory",
        subjects=list(INVENTORY_EVENTS),
        handler=one,
        batch_handler=batch,
    )
    runtime.consume(
        store.inbox,
        name=PRICING_WEBHOOKS,
        source_service="pricing",
        subjects=list(PRICING_EVENTS),  # the sales quotes' alone: the stream's price changes are not read
        handler=one,
        batch_handler=batch,
    )
    runtime.service.add_worker("webhook-sender", lambda: hooks.run_sender(settings.webhook_poll_seconds))
    if settings.webhook_retention_days:
        retention = timedelta(days=settings.webhook_retention_days)
        runtime.service.add_worker("webhook-retention", lambda: hooks.run_retention(retention))
    return hooks


async def serve(settings: NotificationsSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("notifications", NotificationsSettings, serve, Path(__file__).parent / "migrations")
