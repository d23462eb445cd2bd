"""Bounded gRPC messages: the kit's server and channels refuse a message over their limits with
RESOURCE_EXHAUSTED instead of buffering it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from kit_helpers import SERVICE, register, stub

from shop.common.v1 import common_pb2
from shopkit.clients import channel_options, make_channel
from shopkit.server import GrpcService
from shopkit.settings import DEFAULT_MAX_MESSAGE_BYTES, ServiceSettings

LIMIT = 4096
BIG = common_pb2.Money(amount=1, currency="X" * (2 * LIMIT))


async def echo(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    return request


async def grow(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    return BIG


async def started(**limits: int) -> GrpcService:
    settings = ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0, shutdown_grace_seconds=1, **limits)  # type: ignore[arg-type]
    service = GrpcService(settings)
    service.add_servicer(register({"Echo": echo, "Grow": grow}), None, SERVICE)
    await service.start()
    return service


@pytest.fixture
async def bounded() -> AsyncIterator[GrpcService]:
    service = await started(grpc_max_receive_message_bytes=LIMIT, grpc_max_send_message_bytes=LIMIT)
    yield service
    await service.stop()


def test_every_channel_and_server_is_bounded_by_default() -> None:
    options = dict(channel_options([]))
    assert options["grpc.max_receive_message_length"] == DEFAULT_MAX_MESSAGE_BYTES
    assert options["grpc.max_send_message_length"] == DEFAULT_MAX_MESSAGE_BYTES
    settings = ServiceSettings()
    assert settings.grpc_max_receive_message_bytes == settings.grpc_max_send_message_bytes == 4 * 1024 * 1024


async def assert_large_messages_refused(channel: grpc.aio.Channel) -> None:
    """A large request (Echo) and a large answer (Grow) both fail RESOURCE_EXHAUSTED; small ones pass."""
    small = common_pb2.Money(amount=1, currency="EUR")
    assert await stub(channel, "Echo")(small) == small
    for method, request in (("Echo", BIG), ("Grow", small)):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub(channel, method)(request)
        assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, method


async def test_the_server_refuses_large_requests_and_never_sends_large_answers(bounded: GrpcService) -> None:
    channel = make_channel(f"127.0.0.1:{bounded.port}", [])
    try:
        await assert_large_messages_refused(channel)
    finally:
        await channel.close(grace=None)


async def test_a_channel_refuses_large_answers_and_does_not_send_large_requests() -> None:
    service = await started()
    channel = make_channel(f"127.0.0.1:{service.port}", [], max_receive_bytes=LIMIT, max_send_bytes=LIMIT)
    try:
        await assert_large_messages_refused(channel)
    finally:
        await channel.close(grace=None)
        await service.stop()
