"""grpc.aio server bootstrap: mutual TLS and callers' allow-lists, health, reflection, metrics,
background workers, graceful SIGTERM.

With TLS files set (see `tls`) the server takes only callers with a certificate of the shop's CA and
checks each call against the allow-list of its service; HEALTH_PORT then serves grpc.health.v1 in
plain text for probes that cannot present a certificate (the kubelet's). Without them it serves
plain text on a loopback address only.

On SIGTERM/SIGINT: health turns NOT_SERVING, the server stops taking calls and lets in-flight
calls finish within the grace period, background workers stop, resources close, spans flush.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from shopkit import metrics, tls, tracing
from shopkit.access import Callers
from shopkit.clients import message_size_options
from shopkit.interceptors import ServerInterceptor
from shopkit.settings import ServiceSettings
from shopkit.usertoken import Verifier
from shopkit.waits import wait_event

log = logging.getLogger("shopkit.server")


def stop_requested() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set in place of their default handlers, so that a process drains
    and exits 0 instead of dying of the signal. Call it before starting to serve: no signal is lost."""
    loop = asyncio.get_running_loop()
    requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, requested.set)
    return requested


Worker = Callable[[], Awaitable[None]]
Hook = Callable[[], Awaitable[Any]]


class GrpcService:
    """One service process: a gRPC server plus the background workers it owns (relay, consumers).

    `edge`: the server faces clients rather than peers (the gateway's gRPC API): it authenticates
    their tokens itself, so it asks for no client certificate and serves plain text behind the
    ingress that terminates TLS."""

    def __init__(self, settings: ServiceSettings, *, edge: bool = False):
        self.settings = settings
        self.edge = edge
        self.tls = None if edge else tls.from_settings(settings)
        self._interceptor = ServerInterceptor()
        self.server = grpc.aio.server(
            interceptors=[self._interceptor],
            options=[
                ("grpc.max_connection_age_ms", int(settings.max_connection_age_seconds * 1000)),
                ("grpc.max_connection_age_grace_ms", int(settings.shutdown_grace_seconds * 1000)),
                ("grpc.keepalive_permit_without_calls", 0),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                *message_size_options(settings.grpc_max_receive_message_bytes, settings.grpc_max_send_message_bytes),
            ],
        )
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.health_server: grpc.aio.Server | None = None
        self.service_names: list[str] = []
        self._workers: list[tuple[str, Worker]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop: list[Hook] = []
        self._stopping = asyncio.Event()
        self.port = 0

    def add_servicer(
        self,
        register: Callable[[Any, grpc.aio.Server], None],
        servicer: Any,
        full_name: str,
        callers: Callers | None = None,
    ) -> None:
        """Serve `servicer`; on TLS, each method only to the identities `callers` names for it."""
        register(servicer, self.server)
        self.service_names.append(full_name)
        if callers is not None:
            self._interceptor.callers[full_name] = callers

    def add_worker(self, name: str, worker: Worker) -> None:
        """A coroutine that runs while the server serves (outbox relay, event consumer, sweeper)."""
        self._workers.append((name, worker))

    def on_stop(self, hook: Hook) -> None:
        """Run after the server stopped and workers ended, in reverse order of registration."""
        self._on_stop.append(hook)

    async def start(self) -> int:
        reflection.enable_server_reflection(
            [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server,
        )
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        if self.tls is not None:
            # The gateway's tokens name this service (its certificate's Common Name) as their audience.
            self._interceptor.verifier = Verifier(self.tls.authority, audience=self.tls.identity)
            self.port = self.server.add_secure_port(address, self.tls.server_credentials())
        else:
            if not self.edge:
                tls.require_for(self.settings.grpc_host, None, "the gRPC server")
            self.port = self.server.add_insecure_port(address)
        await self.server.start()
        if self.settings.health_port:
            await self._serve_health()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks = [asyncio.create_task(self._supervise(name, w), name=name) for name, w in self._workers]
        log.info("serving", extra={"port": self.port, "services": self.service_names})
        return self.port

    async def _serve_health(self) -> None:
        """grpc.health.v1 alone, in plain text: the same statuses, nothing else reachable without a certificate."""
        self.health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
        self.health_server.add_insecure_port(f"{self.settings.grpc_host}:{self.settings.health_port}")
        await self.health_server.start()

    async def _supervise(self, name: str, worker: Worker) -> None:
        """Keep a worker running; a crash is logged and the worker restarted after a pause."""
        while not self._stopping.is_set():
            try:
                await worker()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s failed; restarting", name)
                await wait_event(self._stopping, 1.0)

    async def stop(self) -> None:
        self._stopping.set()
        await self.health.enter_graceful_shutdown()
        log.info("draining", extra={"grace_seconds": self.settings.shutdown_grace_seconds})
        await self.server.stop(self.settings.shutdown_grace_seconds)
        if self.health_server is not None:
            await self.health_server.stop(None)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        log.info("stopped")

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        stop = stop_requested()
        metrics.start_metrics_server(self.settings.metrics_port, self.settings.metrics_host)
        await self.start()
        await stop.wait()
        await self.stop()
        tracing.shutdown_tracing()
