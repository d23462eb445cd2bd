"""A service process with a slow method, for the SIGTERM drain test (run as a script)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from kit_helpers import SERVICE, register

from shop.common.v1 import common_pb2
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings


async def slow(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    await asyncio.sleep(request.amount / 1000)
    return common_pb2.Money(amount=request.amount, currency="END")


async def main(port: int) -> None:
    service = GrpcService(
        ServiceSettings(grpc_host="127.0.0.1", grpc_port=port, metrics_port=0, shutdown_grace_seconds=10)
    )
    service.add_servicer(register({"Slow": slow}), None, SERVICE)
    await service.run()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
