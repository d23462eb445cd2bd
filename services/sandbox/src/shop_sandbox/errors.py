"""Errors the sandbox answers on purpose, as RFC 9457 problem+json bodies (`shopkit.problems`).

Every error body has the gateway's shape: `type`, `title`, `status`, `detail`, a stable
machine-readable `code` (lower-case, as card processors spell them) and `errors` (the field
violations of a validation_error, else empty); some add fields (`authorization_status` for state
conflicts, `retryable`, `decline_code`).
`stored` says whether a request with an Idempotency-Key keeps the answer: errors found while the
request executed are part of its outcome; rejections before it ran (bad input, a busy key) are not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from shopkit.errors import ERROR_DOMAIN, FieldViolation
from shopkit.problems import ProblemResponse, field_errors, problem_document, violations_detail


def problem(
    status: int, code: str, title: str, detail: str, errors: Iterable[FieldViolation] = (), **extra: Any
) -> dict[str, Any]:
    type_uri = f"https://{ERROR_DOMAIN}/problems/sandbox/{code}"
    return problem_document(status, code, detail, type=type_uri, title=title, errors=field_errors(errors), **extra)


class ApiError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal error"
    stored = True
    headers: ClassVar[dict[str, str]] = {}  # headers of the answer besides the problem's

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return problem(self.status, self.code, self.title, self.detail, **self.extra)

    def response(self) -> ProblemResponse:
        return ProblemResponse(self.body(), status_code=self.status, headers=self.headers or None)


class ValidationFailed(ApiError):
    """Bad input: nothing was done, nothing is stored under the Idempotency-Key."""

    status = 422
    code = "validation_error"
    title = "Invalid request"
    stored = False

    def __init__(self, violations: Iterable[FieldViolation]):
        self.violations = list(violations)
        super().__init__(violations_detail(self.violations))

    def body(self) -> dict[str, Any]:
        return problem(self.status, self.code, self.title, self.detail, self.violations, **self.extra)


class IdempotencyKeyReused(ApiError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"
    stored = False


class RequestInProgress(ApiError):
    status = 409
    code = "request_in_progress"
    title = "Request in progress"
    stored = False

    def __init__(self, detail: str):
        super().__init__(detail, retryable=True)


class ResourceMissing(ApiError):
    status = 404
    code = "resource_missing"
    title = "No such resource"

    def __init__(self, resource: str, resource_id: str, *, param: str | None = None):
        extra: dict[str, Any] = {"resource": resource}
        if param:
            extra["param"] = param
        super().__init__(f"no {resource} {resource_id!r}", **extra)


class StateConflict(ApiError):
    """The authorization's state does not allow the operation (or the amount exceeds what it allows)."""

    status = 409
    title = "Conflict with the authorization's state"

    def __init__(self, code: str, detail: str, *, authorization_status: str):
        self.code = code
        super().__init__(detail, authorization_status=authorization_status)


class ClientCertificateRequired(ApiError):
    """With mutual TLS: a route outside the public face (the server face, `/metrics`), reached without a
    client certificate. An HTTP 401 carries a challenge (RFC 9110); TLS client authentication has no
    registered scheme, so it names what is missing."""

    status = 401
    code = "client_certificate_required"
    title = "Client certificate required"
    stored = False
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "TLS-Client-Certificate"}


class CallerNotAllowed(ApiError):
    """With mutual TLS: the Common Name of the client's certificate may not call the API."""

    status = 403
    code = "caller_not_allowed"
    title = "Caller not allowed"
    stored = False


class RouteNotFound(ApiError):
    status = 404
    code = "not_found"
    title = "Not found"
    stored = False


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"
    stored = False
