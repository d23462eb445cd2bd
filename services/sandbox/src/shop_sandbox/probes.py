"""Liveness and readiness: routes of the API's app, and on their own on HEALTH_PORT.

With TLS the API's port speaks HTTPS (its probes are on the public face: no certificate needed);
the kubelet's probes, like every component's in the chart, speak plain HTTP to a port of their own.
HEALTH_PORT (0: off) serves `create_probe_app`: plain HTTP with `/healthz` and `/readyz` and nothing
else (every other path is 404 problem+json), answering with the same handlers, hence the same
readiness, as the API's port.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from shop_sandbox import schemas
from shop_sandbox.errors import ApiError, MethodNotAllowed, RouteNotFound
from shopkit.http import FASTAPI_TELEMETRY_OFF
from shopkit.problems import ProblemResponse

if TYPE_CHECKING:
    from shop_sandbox.api import SandboxContext

log = logging.getLogger("shop_sandbox.probes")

READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["probes"])


@router.get("/healthz", response_model=schemas.Health, summary="Liveness: the process serves")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=schemas.Health,
    responses={503: {"model": schemas.Health}},
    summary="Readiness: the database answers",
)
async def readyz(request: Request) -> Response:
    return await readiness(request.app.state.context)


async def readiness(context: SandboxContext) -> Response:
    """200 when the database answers; 503 when it doesn't, or while the process drains."""
    if context.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS), context.db.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as error:
        log.warning("database unreachable: %s", error)
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def _http_error(request: Request, error: Exception) -> Response:
    status = error.status_code if isinstance(error, HTTPException) else 500
    problem: ApiError = (
        MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
        if status == 405
        else RouteNotFound(f"no route {request.url.path} on the health port")
    )
    return ProblemResponse(problem.body(), status_code=problem.status)


def create_probe_app(context: SandboxContext) -> FastAPI:
    """The app of HEALTH_PORT: the probes alone, without documentation, telemetry or lifespan."""
    app = FastAPI(
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=FASTAPI_TELEMETRY_OFF,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.context = context
    app.include_router(router)
    return app
