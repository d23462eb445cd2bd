"""SIGTERM lets in-flight calls finish, refuses new ones and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from kit_helpers import stub

from shop.common.v1 import common_pb2
from shopkit.testing import free_port, wait_for_port

HERE = Path(__file__).parent


async def test_sigterm_drains_in_flight_calls_then_exits_zero() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(HERE / "slow_server.py"), str(port)], env=env)
    try:
        await asyncio.to_thread(wait_for_port, port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await channel.channel_ready()
            in_flight = asyncio.ensure_future(stub(channel, "Slow")(common_pb2.Money(amount=1500), timeout=10))
            await asyncio.sleep(0.4)  # the call is now being handled
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as fresh:
                    await stub(fresh, "Slow")(common_pb2.Money(amount=1), timeout=2)
            assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            reply = await in_flight
        assert (reply.amount, reply.currency) == (1500, "END")
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
