"""The gRPC server bootstrap over real channels: error mapping, deadlines, health, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kit_helpers import SERVICE, register, stub
from prometheus_client import REGISTRY

from shop.common.v1 import common_pb2
from shopkit import deadlines
from shopkit.clients import make_channel
from shopkit.errors import FailedPrecondition, FieldViolation, NotFound, Violations, parse_rpc_error
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings


def settings(**overrides: object) -> ServiceSettings:
    return ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0, shutdown_grace_seconds=5, **overrides)  # type: ignore[arg-type]


async def echo(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    return request


async def validate(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    violations = Violations()
    violations.check(len(request.currency) == 3, "currency", "must be an ISO-4217 code")
    violations.check(request.amount >= 0, "amount", "must not be negative")
    violations.raise_if_any()
    if request.currency == "XXX":
        raise NotFound("currency", request.currency)
    if request.currency == "ZZZ":
        raise FailedPrecondition("no rates for ZZZ", reason="NO_RATES", metadata={"currency": "ZZZ"})
    return request


async def validate_everything(
    request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]
) -> common_pb2.Money:
    """As a handler does with a request of many bad fields, each named after the client's own input."""
    violations = Violations()
    for index in range(500):
        violations.add(f"attributes['{'é' * 2000}{index}']", "must be one of: " + "ü" * 5000)
    violations.raise_if_any()
    return request


async def crash(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    raise RuntimeError("secret internals")


async def remaining(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    return common_pb2.Money(amount=int(deadlines.remaining(99.0) * 1000), currency="SEC")


@pytest.fixture
async def server() -> object:
    service = GrpcService(settings())
    service.add_servicer(
        register(
            {
                "Echo": echo,
                "Validate": validate,
                "ValidateEverything": validate_everything,
                "Crash": crash,
                "Remaining": remaining,
            }
        ),
        None,
        SERVICE,
    )
    await service.start()
    yield service
    await service.stop()


async def test_domain_errors_become_rich_statuses(server: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = stub(channel, "Validate")
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await call(common_pb2.Money(amount=-1, currency="US"), timeout=5)
        info = parse_rpc_error(bad.value)
        assert info.code is grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in info.violations} == {"currency", "amount"}
        assert info.reason == "INVALID_ARGUMENT"

        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(common_pb2.Money(amount=1, currency="XXX"), timeout=5)
        assert parse_rpc_error(missing.value).code is grpc.StatusCode.NOT_FOUND

        with pytest.raises(grpc.aio.AioRpcError) as precondition:
            await call(common_pb2.Money(amount=1, currency="ZZZ"), timeout=5)
        info = parse_rpc_error(precondition.value)
        assert (info.code, info.reason, info.metadata["currency"]) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "NO_RATES",
            "ZZZ",
        )


async def test_an_error_with_many_long_violations_still_arrives_as_invalid_argument(server: GrpcService) -> None:
    # Without bounds its trailers would pass gRPC's metadata limit: the caller would get RESOURCE_EXHAUSTED.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub(channel, "ValidateEverything")(common_pb2.Money(), timeout=5)
    info = parse_rpc_error(bad.value)
    assert info.code is grpc.StatusCode.INVALID_ARGUMENT
    *named, rest = info.violations
    assert 10 <= len(named) < 500 and rest == FieldViolation("", f"and {500 - len(named)} more problems")
    assert all(len(v.field.encode()) <= 120 and len(v.description.encode()) <= 200 for v in info.violations)


async def test_unhandled_errors_are_internal_without_leaking_details(server: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as crashed:
            await stub(channel, "Crash")(common_pb2.Money(), timeout=5)
    assert crashed.value.code() is grpc.StatusCode.INTERNAL
    assert "secret" not in (crashed.value.details() or "")


async def test_red_metrics_count_calls_by_code(server: GrpcService) -> None:
    def handled(method: str, code: str) -> float:
        value = REGISTRY.get_sample_value(
            "grpc_server_handled_total",
            {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
        )
        return value or 0.0

    before_ok, before_bad = handled("Echo", "OK"), handled("Validate", "INVALID_ARGUMENT")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        await stub(channel, "Echo")(common_pb2.Money(amount=1, currency="USD"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub(channel, "Validate")(common_pb2.Money(amount=-1, currency="USD"), timeout=5)
    assert handled("Echo", "OK") == before_ok + 1
    assert handled("Validate", "INVALID_ARGUMENT") == before_bad + 1


async def test_outgoing_calls_inherit_the_remaining_deadline(server: GrpcService) -> None:
    """A front service calls the test service through a kit channel without a timeout of its own:
    the callee sees what is left of the front call's deadline, not the client default."""
    downstream = make_channel(f"127.0.0.1:{server.port}", [], default_timeout=30.0)

    async def relay(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
        await asyncio.sleep(0.2)
        reply: common_pb2.Money = await stub(downstream, "Remaining")(request)
        return reply

    front = GrpcService(settings())
    front.add_servicer(register({"Relay": relay}), None, SERVICE)
    await front.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            reply = await stub(channel, "Relay")(common_pb2.Money(), timeout=2.0)
            no_deadline = await stub(downstream, "Remaining")(common_pb2.Money())
    finally:
        await front.stop()
        await downstream.close(None)
    assert 1000 < reply.amount < 1850, reply.amount  # 2 s minus the 0.2 s spent in front
    assert 25_000 < no_deadline.amount <= 30_500  # the channel default when nobody set one


async def test_health_serves_then_reports_not_serving_on_stop() -> None:
    service = GrpcService(settings())
    service.add_servicer(register({"Echo": echo}), None, SERVICE)
    await service.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(service.stop())
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
