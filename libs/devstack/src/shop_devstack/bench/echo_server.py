"""A bare grpc.aio server: one generic unary handler, no interceptors, no health, no reflection.

It answers every call with the same fixed payload (the bytes of a real GetProduct response), so it
costs what gRPC itself costs for a message of that size. Run: python -m shop_devstack.bench.echo_server
PORT PAYLOAD_FILE; it prints "ready" once it listens and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import uvloop

if TYPE_CHECKING:  # generic only in the type stubs
    _Handler = grpc.GenericRpcHandler[bytes, bytes]
else:
    _Handler = grpc.GenericRpcHandler


class EchoHandler(_Handler):
    def __init__(self, payload: bytes):
        self.payload = payload

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        payload = self.payload

        async def reply(request: bytes, context: Any) -> bytes:
            return payload

        # No (de)serializers: the handler sees and returns raw bytes.
        return grpc.unary_unary_rpc_method_handler(reply)


async def serve(port: int, payload: bytes) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((EchoHandler(payload),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.stop(1.0)


def main() -> None:
    port, payload_file = int(sys.argv[1]), Path(sys.argv[2])
    uvloop.run(serve(port, payload_file.read_bytes()))


if __name__ == "__main__":
    main()
