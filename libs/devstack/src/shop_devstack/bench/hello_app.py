"""B4's baseline: a bare ASGI app that answers "hello", on the gateway's uvicorn settings.

The same server as the gateway's HTTP side: uvicorn in a uvloop event loop (`uvloop.run`, as the kit's
service command line runs every process), the same `uvicorn.Config` options (no lifespan, no access log,
no server header; httptools when installed), serving a socket it was handed. Run:
python -m shop_devstack.bench.hello_app PORT; stops on SIGTERM.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
import uvloop

Message = MutableMapping[str, Any]
BODY = b'{"message":"hello"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def hello(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def serve(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
    config = uvicorn.Config(hello, lifespan="off", log_config=None, access_log=False, server_header=False)
    await uvicorn.Server(config).serve(sockets=[listener])  # stops on SIGTERM (uvicorn's own handling)


def main() -> None:
    uvloop.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
