"""NATS/JetStream connection, stream definitions and the event-subject conventions.

Each service publishes to its own stream `SHOP_<SERVICE>` with subjects `shop.<service>.>`;
messages that keep failing go to `SHOP_DLQ` (`shop.dlq.<service>.<consumer>`). A connection gets
its replies and deliveries under its own inbox prefix `_INBOX.<name>`, which is what a service's
NATS user may subscribe to (`shopkit.natsauth`).
"""

from __future__ import annotations

import logging
import re

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("shopkit.events")

DUPLICATE_WINDOW_SECONDS = 600.0
DLQ_STREAM = "SHOP_DLQ"
INBOX_ROOT = "_INBOX"


def stream_name(service: str) -> str:
    return f"SHOP_{service.upper()}"


def stream_config(service: str) -> StreamConfig:
    return StreamConfig(
        name=stream_name(service),
        subjects=[f"shop.{service}.>"],
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=7 * 24 * 3600.0,
    )


def dlq_config() -> StreamConfig:
    return StreamConfig(name=DLQ_STREAM, subjects=["shop.dlq.>"], max_age=30 * 24 * 3600.0)


def inbox_prefix(name: str) -> str:
    """The subject prefix of the replies and pull deliveries a connection named `name` receives."""
    return f"{INBOX_ROOT}.{name}" if re.fullmatch(r"[A-Za-z0-9_-]+", name) else INBOX_ROOT


async def connect(url: str, name: str) -> NATS:
    """Connect as `url` says (credentials in its userinfo: `nats://user:password@host:4222`). Replies
    and deliveries come under `_INBOX.<name>`: a service names its connection after its NATS user."""
    return await nats.connect(
        servers=[u.strip() for u in url.split(",")],
        name=name,
        inbox_prefix=inbox_prefix(name),
        error_cb=_log_error,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
    )


async def _log_error(error: Exception) -> None:
    # A refused publish or request changes nothing and only comes back as this asynchronous error
    # (the request itself times out): say which subject this connection's user may not use.
    text = str(error)
    if "permissions violation" in text.lower():
        log.error("NATS refused this connection's user: %s", text, extra={"nats_error": text})
    else:
        log.warning("NATS connection error: %s", text, exc_info=error, extra={"nats_error": text})


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring its configuration up to date. Safe to call from every replica."""
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream", extra={"stream": config.name})
        return
    await js.update_stream(config)
