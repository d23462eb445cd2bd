"""The HTTP API (FastAPI): validates at the edge, runs operations in a unit of work, maps domain
objects to JSON. Errors are problem+json (see errors.py); card numbers are never echoed back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException

from shop_sandbox import document, domain, probes, schemas
from shop_sandbox.callers import CallerCheck
from shop_sandbox.domain import Authorization, AuthorizationStatus, PaymentMethod, Refund
from shop_sandbox.errors import ApiError, MethodNotAllowed, RouteNotFound, ValidationFailed, problem
from shop_sandbox.idempotency import REPLAYED_HEADER, Idempotency, Reply, media_type
from shop_sandbox.operations import Payments
from shop_sandbox.settings import SandboxSettings
from shop_sandbox.telemetry import AUTHORIZATIONS, UNOBSERVED_PATHS
from shopkit import openapi, problems
from shopkit.db import Database, DriverConnection
from shopkit.errors import FieldViolation, Violations
from shopkit.http import FASTAPI_TELEMETRY_OFF, HttpTelemetryMiddleware
from shopkit.identifiers import check_request_id
from shopkit.problems import PROBLEM_JSON, ProblemResponse
from shopkit.requestlimits import RequestLimits

log = logging.getLogger("shop_sandbox.api")


@dataclass
class SandboxContext:
    settings: SandboxSettings
    db: Database
    payments: Payments
    idempotency: Idempotency
    draining: bool = False

    def public_url(self, request: Request) -> str:
        """Where customers' clients reach the public face (SANDBOX_PUBLIC_URL, else as this request came in)."""
        return (self.settings.sandbox_public_url or str(request.base_url)).rstrip("/")

    async def delay(self) -> None:
        """SANDBOX_LATENCY_MS: the provider's simulated processing time."""
        if self.settings.sandbox_latency_ms:
            await asyncio.sleep(self.settings.sandbox_latency_ms / 1000)


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool, a hop per request.
async def _context(request: Request) -> SandboxContext:
    context: SandboxContext = request.app.state.context
    return context


async def _idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a POST safe to retry: the same key and body get the stored answer "
            "(header Idempotent-Replayed: true); another body with the key is 422 idempotency_key_reused.",
        ),
    ] = None,
) -> str | None:
    if key is not None:
        violations = Violations()
        check_request_id(violations, key, "Idempotency-Key")
        if violations.items:
            raise ValidationFailed(violations.items)
    return key


Context = Annotated[SandboxContext, Depends(_context)]
IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]
PaymentMethodId = Annotated[str, Path(pattern=schemas.OBJECT_ID_PATTERN, description="pm_...")]
AuthorizationId = Annotated[str, Path(pattern=schemas.OBJECT_ID_PATTERN, description="auth_...")]


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": schemas.Problem, "content": {PROBLEM_JSON: {}}} for status in statuses}


# --- mapping ----------------------------------------------------------------------------------


def payment_method_json(method: PaymentMethod) -> dict[str, Any]:
    return schemas.PaymentMethod(
        id=method.id,
        card=schemas.Card(
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            fingerprint=method.fingerprint,
            country=method.country,
        ),
        billing_country=method.billing_country,
        created_at=method.created_at,
    ).model_dump(mode="json")


def _refund(refund: Refund) -> schemas.Refund:
    return schemas.Refund(
        id=refund.id,
        authorization=refund.authorization_id,
        amount=refund.amount,
        currency=refund.currency,
        created_at=refund.created_at,
    )


def refund_json(refund: Refund) -> dict[str, Any]:
    return _refund(refund).model_dump(mode="json")


def challenge_path(authorization_id: str) -> str:
    return f"/v1/authorizations/{authorization_id}/challenge"


def _next_action(auth: Authorization, public_url: str) -> schemas.NextAction | None:
    if auth.status is not AuthorizationStatus.REQUIRES_ACTION or auth.client_secret is None:
        return None
    return schemas.NextAction(url=public_url + challenge_path(auth.id), client_secret=auth.client_secret)


def authorization_json(auth: Authorization, public_url: str) -> dict[str, Any]:
    """The authorization; while it waits for its challenge, with the next_action at `public_url`."""
    authenticated = auth.three_d_secure_authenticated
    return schemas.Authorization(
        id=auth.id,
        status=auth.status.value,
        payment_method=auth.payment_method_id,
        amount=auth.amount,
        currency=auth.currency,
        amount_captured=auth.amount_captured,
        amount_refunded=auth.amount_refunded,
        decline_code=auth.decline_code,
        failure_code=auth.failure_code,
        three_d_secure=None if authenticated is None else schemas.ThreeDSecureResult(authenticated=authenticated),
        next_action=_next_action(auth, public_url),
        metadata=auth.metadata,
        captures=[
            schemas.Capture(id=c.id, amount=c.amount, currency=auth.currency, created_at=c.created_at)
            for c in auth.captures
        ],
        refunds=[_refund(r) for r in auth.refunds],
        created_at=auth.created_at,
    ).model_dump(mode="json")


def authorization_reply(auth: Authorization, public_url: str) -> Reply:
    """201 authorised (or captured, or waiting for its challenge), 402 declined, 502 failed (not stored:
    a retry runs again)."""
    body = authorization_json(auth, public_url)
    if auth.status is AuthorizationStatus.DECLINED:
        detail = f"the card was declined ({auth.decline_code})"
        return Reply(
            402,
            problem(402, "card_declined", "Card declined", detail, decline_code=auth.decline_code, authorization=body),
        )
    if auth.status is AuthorizationStatus.FAILED:
        detail = "the provider could not process the authorisation; retry"
        return Reply(
            502,
            problem(502, "processing_error", "Processing error", detail, retryable=True, authorization=body),
            stored=False,
        )
    return Reply(201, body)


def respond(reply: Reply) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if reply.replayed else None
    return JSONResponse(dict(reply.body), status_code=reply.status, headers=headers, media_type=media_type(reply))


def _raise_if_any(violations: Violations) -> None:
    if violations.items:
        raise ValidationFailed(violations.items)


# --- routes -------------------------------------------------------------------------------------

router = APIRouter()


@router.post(
    "/v1/payment_methods",
    status_code=201,
    response_model=schemas.PaymentMethod,
    responses=_problem_responses(409, 422),
    summary="Tokenise a card",
    tags=["payment methods"],
)
async def create_payment_method(
    body: schemas.PaymentMethodRequest, request: Request, context: Context, key: IdempotencyKey
) -> Response:
    number = domain.normalise_number(body.card.number)
    violations = Violations()
    domain.check_card(
        violations,
        number=number,
        exp_month=body.card.exp_month,
        exp_year=body.card.exp_year,
        cvc=body.card.cvc,
        billing_country=body.billing_country,
        today=context.payments.today(),
    )
    _raise_if_any(violations)

    async def effect(conn: DriverConnection) -> Reply:
        method = await context.payments.tokenise(
            conn,
            number=number,
            exp_month=body.card.exp_month,
            exp_year=body.card.exp_year,
            billing_country=body.billing_country,
        )
        return Reply(201, payment_method_json(method))

    endpoint = f"POST {request.url.path}"
    return respond(await context.idempotency.execute(key, endpoint, body.model_dump(mode="json"), effect))


@router.get(
    "/v1/payment_methods/{payment_method_id}",
    response_model=schemas.PaymentMethod,
    responses=_problem_responses(404, 422),
    summary="Get a payment method",
    tags=["payment methods"],
)
async def get_payment_method(payment_method_id: PaymentMethodId, context: Context) -> Response:
    await context.delay()
    async with context.db.driver() as conn:
        method = await context.payments.payment_method(conn, payment_method_id)
    return JSONResponse(payment_method_json(method))


@router.post(
    "/v1/authorizations",
    status_code=201,
    response_model=schemas.Authorization,
    responses=_problem_responses(402, 404, 409, 422, 502),
    summary="Authorise an amount on a payment method",
    tags=["authorizations"],
)
async def create_authorization(
    body: schemas.AuthorizationRequest, request: Request, context: Context, key: IdempotencyKey
) -> Response:
    violations = Violations()
    metadata = domain.clean_metadata(violations, body.metadata)
    _raise_if_any(violations)
    three_d_secure = body.three_d_secure or schemas.ThreeDSecure()
    outcome: list[Authorization] = []

    async def effect(conn: DriverConnection) -> Reply:
        auth = await context.payments.authorize(
            conn,
            payment_method_id=body.payment_method,
            amount=body.amount,
            currency=body.currency,
            capture=body.capture,
            authenticated=three_d_secure.authenticated,
            challenge=bool(three_d_secure.challenge),
            metadata=metadata,
            idempotency_key=key,
        )
        outcome.append(auth)
        return authorization_reply(auth, context.public_url(request))

    endpoint = f"POST {request.url.path}"
    reply = await context.idempotency.execute(key, endpoint, body.model_dump(mode="json"), effect)
    if outcome and not reply.replayed:
        auth = outcome[-1]
        AUTHORIZATIONS.labels(auth.status.value, auth.decline_code or auth.failure_code or "").inc()
    return respond(reply)


@router.get(
    "/v1/authorizations/{authorization_id}",
    response_model=schemas.Authorization,
    responses=_problem_responses(404, 422),
    summary="Get an authorization with its captures and refunds",
    tags=["authorizations"],
)
async def get_authorization(authorization_id: AuthorizationId, request: Request, context: Context) -> Response:
    await context.delay()
    async with context.db.driver() as conn:
        auth = await context.payments.authorization(conn, authorization_id)
    return JSONResponse(authorization_json(auth, context.public_url(request)))


@router.post(
    "/v1/authorizations/{authorization_id}/capture",
    response_model=schemas.Authorization,
    responses=_problem_responses(404, 409, 422),
    summary="Capture an authorization (once; all or part of the authorised amount)",
    tags=["authorizations"],
)
async def capture_authorization(
    authorization_id: AuthorizationId,
    request: Request,
    context: Context,
    key: IdempotencyKey,
    body: schemas.CaptureRequest | None = None,
) -> Response:
    amount = body.amount if body else None

    async def effect(conn: DriverConnection) -> Reply:
        captured = await context.payments.capture(conn, authorization_id, amount)
        return Reply(200, authorization_json(captured, context.public_url(request)))

    request_body = (body or schemas.CaptureRequest()).model_dump(mode="json")
    return respond(await context.idempotency.execute(key, f"POST {request.url.path}", request_body, effect))


@router.post(
    "/v1/authorizations/{authorization_id}/void",
    response_model=schemas.Authorization,
    responses=_problem_responses(404, 409, 422),
    summary="Void an authorization (release the hold, or cancel one that waits for its challenge)",
    tags=["authorizations"],
)
async def void_authorization(
    authorization_id: AuthorizationId, request: Request, context: Context, key: IdempotencyKey
) -> Response:
    async def effect(conn: DriverConnection) -> Reply:
        voided = await context.payments.void(conn, authorization_id)
        return Reply(200, authorization_json(voided, context.public_url(request)))

    return respond(await context.idempotency.execute(key, f"POST {request.url.path}", {}, effect))


@router.post(
    challenge_path("{authorization_id}"),
    response_model=schemas.Authorization,
    responses=_problem_responses(404, 409, 422),
    summary="Complete (or fail) the 3-D Secure challenge of an authorization that requires action",
    description="The customer's client, with next_action.client_secret: passed, the authorization becomes "
    "authorized (captured when it asked for capture); failed, declined with authentication_failed. A wrong secret "
    "is answered like an unknown authorization (404).",
    tags=["authorizations"],
)
async def complete_challenge(
    authorization_id: AuthorizationId,
    body: schemas.ChallengeRequest,
    request: Request,
    context: Context,
    key: IdempotencyKey,
) -> Response:
    async def effect(conn: DriverConnection) -> Reply:
        auth = await context.payments.complete_challenge(conn, authorization_id, body.client_secret, body.authenticated)
        return Reply(200, authorization_json(auth, context.public_url(request)))

    endpoint = f"POST {request.url.path}"
    return respond(await context.idempotency.execute(key, endpoint, body.model_dump(mode="json"), effect))


@router.post(
    "/v1/refunds",
    status_code=201,
    response_model=schemas.Refund,
    responses=_problem_responses(404, 409, 422),
    summary="Refund part or all of a captured authorization",
    tags=["refunds"],
)
async def create_refund(
    body: schemas.RefundRequest, request: Request, context: Context, key: IdempotencyKey
) -> Response:
    async def effect(conn: DriverConnection) -> Reply:
        return Reply(201, refund_json(await context.payments.refund(conn, body.authorization, body.amount)))

    endpoint = f"POST {request.url.path}"
    return respond(await context.idempotency.execute(key, endpoint, body.model_dump(mode="json"), effect))


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# --- errors -------------------------------------------------------------------------------------


def _api_error(_: Request, error: ApiError) -> Response:
    return error.response()


def _invalid_request(request: Request, violations: list[FieldViolation]) -> Response:
    """Field errors without the rejected input (which may be a card number)."""
    return _api_error(request, ValidationFailed(violations))


def _http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 400:  # a body that is not text: bad input like any other
        return _invalid_request(request, [FieldViolation("body", str(error.detail))])
    if error.status_code == 405:
        return _api_error(request, MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
    if error.status_code == 404:
        return _api_error(request, RouteNotFound(f"no route {request.url.path}"))
    body = problem(error.status_code, "http_error", str(error.detail), str(error.detail))
    return ProblemResponse(body, status_code=error.status_code)


LIMIT_CODES = {413: ("request_too_large", "Request too large"), 431: ("headers_too_large", "Headers too large")}


def _over_limit(status: int, detail: str) -> Response:
    code, title = LIMIT_CODES[status]
    return ProblemResponse(problem(status, code, title, detail), status_code=status)


def _unexpected_error(_: Request, error: Exception) -> Response:
    detail = "unexpected error; retry with the same Idempotency-Key"
    return ProblemResponse(problem(500, "internal_error", "Internal error", detail, retryable=True), status_code=500)


def create_app(context: SandboxContext, *, callers: frozenset[str] | None = None) -> FastAPI:
    """The API's app; with `callers` (mutual TLS), only those identities may call its server face, and
    the public face takes any client (see callers.py)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await context.db.dispose()

    app = FastAPI(
        title="Shop payment sandbox",
        version="1.0.0",
        description="A card processor for tests and local runs: tokenise cards, authorise, capture, void and "
        "refund, with Idempotency-Key on every POST and test cards with fixed outcomes.",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY_OFF,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.context = context
    app.include_router(router)
    app.include_router(probes.router)
    # Before routing and parsing; inside the telemetry, so that a refused request is counted and traced.
    app.add_middleware(
        RequestLimits,
        max_body_bytes=context.settings.max_request_body_bytes,
        max_header_bytes=context.settings.max_request_header_bytes,
        refuse=_over_limit,
    )
    if callers is not None:  # inside the telemetry too: a refused caller is counted and logged
        app.add_middleware(CallerCheck, allowed=callers)
    app.add_middleware(HttpTelemetryMiddleware, unobserved_paths=UNOBSERVED_PATHS)
    problems.install(app, invalid_request=_invalid_request, http_error=_http_error, unexpected=_unexpected_error)
    problems.handle(app, ApiError, _api_error)
    document.install(app)
    return app
