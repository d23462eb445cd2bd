"""The HTTP server (uvicorn in this process's event loop) and its lifecycle.

On SIGTERM/SIGINT: /readyz turns 503, the listening socket closes, in-flight requests finish
within SHUTDOWN_GRACE_SECONDS, the database pool closes, spans flush, and `serve` exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import math

import uvicorn
from fastapi import FastAPI

from shop_sandbox.api import SandboxContext
from shop_sandbox.settings import SandboxSettings
from shopkit import tracing
from shopkit.http import InLoopUvicorn
from shopkit.server import stop_requested

log = logging.getLogger("shop_sandbox.server")


class _WithoutColour(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of some messages; JSON logs don't want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


logging.getLogger("uvicorn.error").addFilter(_WithoutColour())


class HttpService:
    def __init__(self, app: FastAPI, context: SandboxContext, settings: SandboxSettings) -> None:
        self.app = app
        self.context = context
        self.settings = settings
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            lifespan="on",
            log_config=None,  # the root logger is already set up (JSON)
            access_log=False,  # HttpTelemetryMiddleware logs failed requests
            ws="none",
            http="h11",  # the parser whose header bound is a setting
            h11_max_incomplete_event_size=settings.max_request_header_bytes,
            server_header=False,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        )
        self.server = InLoopUvicorn(config)
        self.port = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.settings.http_host in ("0.0.0.0", "") else self.settings.http_host
        return f"http://{host}:{self.port}"

    async def start(self) -> int:
        self._task = asyncio.create_task(self.server.serve(), name="http-server")
        while not self.server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the HTTP server did not start")
            await asyncio.sleep(0.01)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        log.info("serving", extra={"port": self.port})
        return self.port

    async def stop(self) -> None:
        """Stop taking connections, let in-flight requests finish, close resources."""
        self.context.draining = True
        log.info("draining", extra={"grace_seconds": self.settings.shutdown_grace_seconds})
        self.server.should_exit = True
        if self._task is not None:
            await self._task
        log.info("stopped")

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        stop = stop_requested()
        await self.start()
        assert self._task is not None
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await self.stop()
        tracing.shutdown_tracing()
