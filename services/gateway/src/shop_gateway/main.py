"""Composition root of the gateway: `shop-gateway serve | settings`.

One process serves the HTTP/JSON API (uvicorn, HTTP_PORT), the public gRPC API (the kit's
GrpcService with health, reflection and the server interceptor, GRPC_PORT) and Prometheus metrics
(METRICS_PORT). On SIGTERM /readyz turns 503, both servers stop taking work and finish in-flight
requests within SHUTDOWN_GRACE_SECONDS, then channels close and spans flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from shop.storefront.v1 import (
    account_pb2,
    account_pb2_grpc,
    backoffice_pb2,
    backoffice_pb2_grpc,
    companies_pb2,
    companies_pb2_grpc,
    integrations_pb2,
    integrations_pb2_grpc,
    invoices_pb2,
    invoices_pb2_grpc,
    quotes_pb2,
    quotes_pb2_grpc,
    returns_pb2,
    returns_pb2_grpc,
    storefront_pb2,
    storefront_pb2_grpc,
)
from shop_gateway.backends import Backends
from shop_gateway.gateway import Gateway
from shop_gateway.grpc_account import AccountServicer
from shop_gateway.grpc_backoffice import BackOfficeServicer
from shop_gateway.grpc_companies import CompaniesServicer
from shop_gateway.grpc_integrations import IntegrationsServicer
from shop_gateway.grpc_invoices import InvoicesServicer
from shop_gateway.grpc_quotes import QuotesServicer
from shop_gateway.grpc_returns import ReturnsServicer
from shop_gateway.grpcapi import StorefrontServicer
from shop_gateway.httpapi.public_reads import PublicReads
from shop_gateway.httpapi.routes import create_app
from shop_gateway.scopes import named_methods
from shop_gateway.settings import UNUSED_FIELDS, GatewaySettings
from shopkit import metrics, tracing
from shopkit.cli import service_cli
from shopkit.http import InLoopUvicorn
from shopkit.logs import setup_logging
from shopkit.server import GrpcService, stop_requested

log = logging.getLogger("shop_gateway")


class GatewayRuntime:
    def __init__(self, settings: GatewaySettings, gateway: Gateway, service: GrpcService, app: FastAPI):
        self.settings = settings
        self.gateway = gateway
        self.service = service
        self.app = app
        self.http_port = 0
        self._http: InLoopUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None

    @property
    def grpc_port(self) -> int:
        return self.service.port

    async def start(self) -> None:
        await self.service.start()
        listener = socket.create_server((self.settings.http_host, self.settings.http_port), reuse_port=False)
        self.http_port = int(listener.getsockname()[1])
        config = uvicorn.Config(
            PublicReads(self.app, gateway=self.gateway),  # anonymous browse answers from memory, before FastAPI
            lifespan="off",
            http="h11",  # the parser whose header bound is a setting
            h11_max_incomplete_event_size=self.settings.max_request_header_bytes,
            log_config=None,
            access_log=False,  # the middleware logs failures with trace ids
            server_header=False,
            timeout_keep_alive=self.settings.http_keepalive_seconds,
            timeout_graceful_shutdown=int(self.settings.shutdown_grace_seconds),
        )
        self._http = InLoopUvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[listener]), name="http")
        while not self._http.started:
            if self._http_task.done():
                await self._http_task  # raises what stopped it
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("serving", extra={"http_port": self.http_port, "grpc_port": self.grpc_port})

    async def stop(self) -> None:
        self.gateway.draining = True
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
        await self.service.stop()  # gRPC drains, then the on_stop hooks close the channels

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT; the gateway's HTTP and gRPC servers stop together."""
        stop = stop_requested()
        metrics.start_metrics_server(self.settings.metrics_port, self.settings.metrics_host)
        await self.start()
        await stop.wait()
        await self.stop()
        tracing.shutdown_tracing()


async def build(settings: GatewaySettings) -> GatewayRuntime:
    setup_logging(settings.service_name or "gateway", settings.log_level, settings.log_format)
    tracing.setup_tracing(settings.service_name or "gateway", settings.otel_exporter_otlp_endpoint)
    backends = Backends.connect(settings)
    gateway = Gateway.create(settings, backends)
    service = GrpcService(settings, edge=True)
    # The public gRPC API: each service beside StorefrontService, every method named for `admit_rpc`.
    public = (
        (storefront_pb2, storefront_pb2_grpc, "StorefrontService", StorefrontServicer(gateway)),
        (backoffice_pb2, backoffice_pb2_grpc, "BackOfficeService", BackOfficeServicer(gateway)),
        (returns_pb2, returns_pb2_grpc, "ReturnsService", ReturnsServicer(gateway)),
        (account_pb2, account_pb2_grpc, "AccountService", AccountServicer(gateway)),
        (integrations_pb2, integrations_pb2_grpc, "IntegrationsService", IntegrationsServicer(gateway)),
        (companies_pb2, companies_pb2_grpc, "CompaniesService", CompaniesServicer(gateway)),
        (quotes_pb2, quotes_pb2_grpc, "QuotesService", QuotesServicer(gateway)),
        (invoices_pb2, invoices_pb2_grpc, "InvoicesService", InvoicesServicer(gateway)),
    )
    for messages, stubs, name, servicer in public:
        descriptor = messages.DESCRIPTOR.services_by_name[name]
        add = getattr(stubs, f"add_{name}Servicer_to_server")
        service.add_servicer(add, named_methods(servicer, descriptor), descriptor.full_name)
    service.on_stop(gateway.close)
    return GatewayRuntime(settings, gateway, service, create_app(gateway))


@contextlib.asynccontextmanager
async def running(settings: GatewaySettings) -> AsyncIterator[GatewayRuntime]:
    """Start the gateway in this process (tests) and stop it gracefully afterwards."""
    runtime = await build(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def serve(settings: GatewaySettings) -> None:
    runtime = await build(settings)
    await runtime.run()


# No database of its own: serve and settings only.
main = service_cli(
    "gateway",
    GatewaySettings,
    serve,
    None,
    serve_help="serve HTTP, gRPC and metrics until SIGTERM",
    hidden_settings=UNUSED_FIELDS,
)
