"""NATS/JetStream connection, stream definitions and the event-subject conventions.

Each service publishes to its own stream `SHOP_<SERVICE>` with subjects `shop.<service>.>`;
messages that keep failing go to `SHOP_DLQ` (`shop.dlq.<service>.<consumer>`).
"""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("shopkit.events")

DUPLICATE_WINDOW_SECONDS = 600.0
DLQ_STREAM = "SHOP_DLQ"


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


async def connect(url: str, name: str) -> NATS:
    return await nats.connect(
        servers=[u.strip() for u in url.split(",")],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
    )


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


async def ensure_streams(js: JetStreamContext, *services: str) -> None:
    for service in services:
        await ensure_stream(js, stream_config(service))
    await ensure_stream(js, dlq_config())
