"""The HTTP server (uvicorn in this process's event loop) and its lifecycle.

With TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE the API's port speaks HTTPS and asks each client
for a certificate without requiring one (the public face: a shopper's browser tokenises cards with
none); a certificate that is presented must be signed by the CA (the handshake refuses the rest),
and its Common Name decides who may call the server face (callers.py). Without them it speaks plain
HTTP, which it only does on a loopback address (tests in one process); binding another address
without TLS is refused at start. HEALTH_PORT adds a plain-HTTP listener with the probes alone
(probes.py) for the kubelet's plain-HTTP probes.

On SIGTERM/SIGINT: /readyz turns 503, the listening socket closes, in-flight requests finish
within SHUTDOWN_GRACE_SECONDS, the database pool closes, spans flush, and `serve` exits 0; the
probes' listener closes last.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from typing import Any

import uvicorn
from fastapi import FastAPI

from shop_sandbox.api import SandboxContext
from shop_sandbox.callers import TlsH11Protocol
from shop_sandbox.probes import create_probe_app
from shop_sandbox.settings import SandboxSettings
from shopkit import tracing
from shopkit.http import InLoopUvicorn
from shopkit.server import stop_requested
from shopkit.tls import Tls, require_for

log = logging.getLogger("shop_sandbox.server")


class _WithoutColour(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of some messages; JSON logs don't want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


logging.getLogger("uvicorn.error").addFilter(_WithoutColour())


class HttpService:
    """The API's server and, with HEALTH_PORT, the probes' plain-HTTP server beside it.

    `tls` (the process's TLS files, `shopkit.tls.from_settings`): HTTPS on HTTP_PORT that asks for a
    client certificate and verifies one that is presented against TLS_CA_FILE; uvicorn loads the
    same files. Without it: plain HTTP, and only on a loopback address."""

    def __init__(self, app: FastAPI, context: SandboxContext, settings: SandboxSettings, tls: Tls | None = None):
        require_for(settings.http_host, tls, "the payment sandbox")
        self.app = app
        self.context = context
        self.settings = settings
        self.tls = tls
        self.server = InLoopUvicorn(self._config(app, settings.http_port, lifespan="on", **self._tls_options()))
        # The probes' app shares the context, not the lifespan: the API's server closes the database.
        self.health: InLoopUvicorn | None = None
        if settings.health_port:
            self.health = InLoopUvicorn(self._config(create_probe_app(context), settings.health_port, lifespan="off"))
        self.port = 0
        self.health_port = 0
        self._task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None

    def _config(self, app: FastAPI, port: int, **options: Any) -> uvicorn.Config:
        defaults: dict[str, Any] = {
            "log_config": None,  # the root logger is already set up (JSON)
            "access_log": False,  # HttpTelemetryMiddleware logs failed requests
            "ws": "none",
            "http": "h11",  # the parser whose header bound is a setting
            "h11_max_incomplete_event_size": self.settings.max_request_header_bytes,
            "server_header": False,
            "timeout_keep_alive": self.settings.http_keepalive_seconds,
            "timeout_graceful_shutdown": math.ceil(self.settings.shutdown_grace_seconds),
        }
        return uvicorn.Config(app, host=self.settings.http_host, port=port, **{**defaults, **options})

    def _tls_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        return {
            "ssl_certfile": self.settings.tls_cert_file,
            "ssl_keyfile": self.settings.tls_key_file,
            "ssl_ca_certs": self.settings.tls_ca_file,
            # Optional: the public face takes clients without one (callers.py refuses them elsewhere);
            # OpenSSL still verifies a certificate that is presented, and fails the handshake if it
            # does not chain to TLS_CA_FILE.
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": TlsH11Protocol,  # h11 that tells the app the client certificate's name
        }

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.settings.http_host in ("0.0.0.0", "") else self.settings.http_host
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> int:
        self._task = await _started(self.server, "http-server")
        self.port = _port_of(self.server)
        if self.health is not None:
            try:
                self._health_task = await _started(self.health, "health-server")
            except BaseException:
                self.server.should_exit = True
                await self._task
                raise
            self.health_port = _port_of(self.health)
        log.info("serving", extra={"port": self.port, "health_port": self.health_port, "tls": self.tls is not None})
        return self.port

    async def stop(self) -> None:
        """Stop taking connections, let in-flight requests finish, close resources; the probes' server
        last, so that its /readyz says "draining" until the API's server is done."""
        self.context.draining = True
        log.info("draining", extra={"grace_seconds": self.settings.shutdown_grace_seconds})
        self.server.should_exit = True
        if self._task is not None:
            await self._task
        if self.health is not None and self._health_task is not None:
            self.health.should_exit = True
            await self._health_task
        log.info("stopped")

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT (or a server ends), then shut down gracefully."""
        stop = stop_requested()
        await self.start()
        assert self._task is not None
        waiter = asyncio.create_task(stop.wait())
        servers = [task for task in (self._task, self._health_task) if task is not None]
        await asyncio.wait([waiter, *servers], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await self.stop()
        tracing.shutdown_tracing()


async def _started(server: InLoopUvicorn, name: str) -> asyncio.Task[None]:
    """`server` serving in a task of its own, once it listens."""
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started:
        if task.done():
            await task
            raise RuntimeError(f"the {name} did not start")
        await asyncio.sleep(0.01)
    return task


def _port_of(server: InLoopUvicorn) -> int:
    return int(server.servers[0].sockets[0].getsockname()[1])
