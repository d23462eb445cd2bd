"""Errors as RFC 9457 problem details (`application/problem+json`, see `shopkit.problems`).

Every error answer has `type`, `title`, `status`, `detail`, a machine-readable `code` (the
google.rpc ErrorInfo reason, e.g. INSUFFICIENT_STOCK, PAYMENT_DECLINED, RATE_LIMITED) and
`errors` (field violations). The HTTP status follows the gRPC code (table below); a few reasons
override it (a declined payment is 402).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from fastapi import FastAPI, Request
from opentelemetry import trace
from starlette.exceptions import HTTPException

from shop_gateway.app.errors import UpstreamError
from shop_gateway.scopes import INSUFFICIENT_SCOPE, www_authenticate
from shopkit import problems
from shopkit.errors import DomainError, FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation
from shopkit.problems import ProblemResponse

log = logging.getLogger("shop_gateway.http")

# gRPC status code -> HTTP status. INVALID_ARGUMENT is 400 everywhere (also for request bodies
# that do not parse or have the wrong types), FAILED_PRECONDITION, ABORTED and ALREADY_EXISTS are
# 409 Conflict: the request was fine, the state of the resource does not allow it.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# Reasons whose HTTP status differs from their gRPC code's.
REASON_STATUS: dict[str, int] = {
    "PAYMENT_DECLINED": 402,  # the checkout's card was declined
    "PAYMENT_ERROR": 502,  # the payment provider kept failing
    "FRAUD_BLOCKED": 422,  # refused by the fraud check: not a conflict the client can resolve
    "UPSTREAM_ERROR": 502,  # a service behind the gateway failed
    "INTERNAL": 500,  # a checkout that failed unexpectedly
    "UPLOAD_TOO_LARGE": 413,  # a product import over its bounds
}


def http_status(code: grpc.StatusCode, reason: str = "") -> int:
    return REASON_STATUS.get(reason, HTTP_STATUS.get(code, 500))


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str = "",
    type_base: str = "",
    errors: Sequence[FieldViolation] = (),
    preconditions: Sequence[PreconditionViolation] = (),
    metadata: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    members: dict[str, Any] = {"errors": problems.field_errors(errors)}
    if instance:
        members["instance"] = instance
    if preconditions:
        members["preconditions"] = [
            {"type": p.type, "subject": p.subject, "description": p.description} for p in preconditions
        ]
    if metadata:
        members["metadata"] = dict(metadata)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        members["trace_id"] = format(span.trace_id, "032x")
    type_uri = f"{type_base}{code.lower().replace('_', '-')}" if type_base else "about:blank"
    body = problems.problem_document(status, code, detail, type=type_uri, **members)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def domain_problem(error: DomainError, instance: str = "", type_base: str = "") -> ProblemResponse:
    status = http_status(error.code, error.reason)
    violations: Sequence[FieldViolation] = ()
    preconditions: Sequence[PreconditionViolation] = ()
    if isinstance(error, InvalidArgument):
        violations = error.violations
    elif isinstance(error, UpstreamError):
        violations, preconditions = error.violations, error.preconditions
    elif isinstance(error, FailedPrecondition):
        preconditions = error.violations
    headers: dict[str, str] = {}
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    elif status == 429:
        headers["Retry-After"] = "1"  # a service behind that said RESOURCE_EXHAUSTED without a RetryInfo
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if error.reason != "TOKEN_REQUIRED" else "Bearer"
    if error.reason == INSUFFICIENT_SCOPE:
        headers["WWW-Authenticate"] = www_authenticate(error.metadata.get("required_scope", ""))
    if status >= 500:
        log.warning("request failed: %s", error.message, extra={"code": error.reason, "status": status})
    return problem(
        status,
        error.reason,
        error.message,
        instance=instance,
        type_base=type_base,
        errors=violations,
        preconditions=preconditions,
        metadata=error.metadata,
        headers=headers,
    )


def install(app: FastAPI, type_base: str) -> None:
    """Exception handlers that answer every error as problem+json."""

    def on_invalid_request(request: Request, violations: list[FieldViolation]) -> ProblemResponse:
        detail = problems.violations_detail(violations)
        return problem(
            400, "INVALID_ARGUMENT", detail, instance=request.url.path, type_base=type_base, errors=violations
        )

    def on_http_error(request: Request, error: HTTPException) -> ProblemResponse:
        if error.status_code == 400:  # a body that is not text (FastAPI could not decode it)
            violations = [FieldViolation("body", str(error.detail))]
            return on_invalid_request(request, violations)
        return problem(
            error.status_code,
            problems.status_name(error.status_code),
            str(error.detail),
            instance=request.url.path,
            type_base=type_base,
            headers=dict(error.headers or {}),
        )

    def on_unexpected(request: Request, error: Exception) -> ProblemResponse:
        return problem(500, "INTERNAL", "internal error", instance=request.url.path, type_base=type_base)

    problems.install(app, invalid_request=on_invalid_request, http_error=on_http_error, unexpected=on_unexpected)
    problems.handle(app, DomainError, lambda request, error: domain_problem(error, request.url.path, type_base))
