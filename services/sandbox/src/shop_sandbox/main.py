"""Composition root of the payment sandbox."""

from __future__ import annotations

from pathlib import Path

from shop_sandbox.api import SandboxContext, create_app
from shop_sandbox.callers import API_CALLERS
from shop_sandbox.domain import FailurePlan
from shop_sandbox.idempotency import Idempotency
from shop_sandbox.operations import Payments
from shop_sandbox.server import HttpService
from shop_sandbox.settings import NOT_APPLICABLE, SandboxSettings
from shopkit import tls, tracing
from shopkit.cli import service_cli
from shopkit.db import Database
from shopkit.logs import setup_logging


async def build(settings: SandboxSettings) -> HttpService:
    secure = tls.from_settings(settings)  # all three TLS files or none, readable: checked before anything starts
    setup_logging(settings.service_name or "sandbox", settings.log_level, settings.log_format)
    tracing.setup_tracing(settings.service_name or "sandbox", settings.otel_exporter_otlp_endpoint)
    db = Database(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    secret = settings.sandbox_fingerprint_key.encode()
    context = SandboxContext(
        settings=settings,
        db=db,
        payments=Payments(
            fingerprint_key=secret,
            failures=FailurePlan(settings.sandbox_failure_rate, settings.sandbox_failure_seed),
        ),
        idempotency=Idempotency(
            db, secret=secret, wait_ms=settings.idempotency_wait_ms, latency_ms=settings.sandbox_latency_ms
        ),
    )
    app = create_app(context, callers=API_CALLERS if secure is not None else None)
    return HttpService(app, context, settings, secure)


async def serve(settings: SandboxSettings) -> None:
    service = await build(settings)
    await service.run()


main = service_cli(
    "sandbox",
    SandboxSettings,
    serve,
    Path(__file__).parent / "migrations",
    serve_help="run the HTTP server",
    hidden_settings=NOT_APPLICABLE,
)
