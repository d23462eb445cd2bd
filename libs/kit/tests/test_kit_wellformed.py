"""Values no method can use (a NUL character, a Timestamp or Duration outside its specified range) are
INVALID_ARGUMENT naming the field for every method of a kit server, before its handler runs."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_status import rpc_status
from kit_helpers import SERVICE, register, stub

from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2
from shopkit import wellformed
from shopkit.clients import make_channel
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings

CALLS: list[common_pb2.Money] = []


async def echo(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    CALLS.append(request)
    return request


def fields(message: Any) -> list[str]:
    return [violation.field for violation in wellformed.violations(message)]


def test_nul_characters_are_found_wherever_they_are() -> None:
    assert fields(common_pb2.Money(amount=1, currency="EUR")) == []
    assert fields(common_pb2.Money(currency="E\x00R")) == ["currency"]
    context = fraud_pb2.PurchaseContext(
        email="a\x00@example.com",
        lines=[fraud_pb2.AssessedLine(sku="ok"), fraud_pb2.AssessedLine(sku="bad\x00")],
        amount=common_pb2.Money(currency="\x00"),
    )
    assert sorted(fields(fraud_pb2.AssessRequest(context=context))) == [
        "context.amount.currency",
        "context.email",
        "context.lines[1].sku",
    ]


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (0, 0, True),
        (253_402_300_799, 999_999_999, True),
        (-62_135_596_800, 0, True),
        (0, -1, False),
        (0, 1_000_000_000, False),
        (253_402_300_800, 0, False),
        (-62_135_596_801, 0, False),
    ],
)
def test_timestamps_outside_their_range_are_found(seconds: int, nanos: int, valid: bool) -> None:
    at = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    found = fields(fraud_pb2.AssessRequest(context=fraud_pb2.PurchaseContext(account_created_at=at)))
    assert found == ([] if valid else ["context.account_created_at"])


def test_durations_outside_their_range_or_of_mixed_sign_are_found() -> None:
    for seconds, nanos, valid in ((5, 1, True), (-5, -1, True), (5, -1, False), (315_576_000_001, 0, False)):
        assert fields(duration_pb2.Duration(seconds=seconds, nanos=nanos)) == ([] if valid else [""]), (seconds, nanos)


async def test_a_server_refuses_them_before_the_handler_runs() -> None:
    settings = ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0, shutdown_grace_seconds=1)
    service = GrpcService(settings)
    service.add_servicer(register({"Echo": echo}), None, SERVICE)
    await service.start()
    channel = make_channel(f"127.0.0.1:{service.port}", [])
    try:
        CALLS.clear()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub(channel, "Echo")(common_pb2.Money(amount=1, currency="EU\x00"))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
        assert status is not None and "currency" in (refused.value.details() or "")
        assert CALLS == []
        assert await stub(channel, "Echo")(common_pb2.Money(amount=1, currency="EUR")) == common_pb2.Money(
            amount=1, currency="EUR"
        )
    finally:
        await channel.close(grace=None)
        await service.stop()
