"""Errors of an HTTP API as RFC 9457 problem details (`application/problem+json`).

The HTTP processes (the gateway, the payment sandbox) answer every error with a problem document:
`type`, `title`, `status`, `detail` and a stable machine-readable `code`, plus whatever the API
adds (field errors, a trace id, a decline code...). This module is the part they share: the
document model, the response class, FastAPI's request validation errors as field violations, and
the wiring of the exception handlers. Each API keeps its own vocabulary (codes, type URIs, extra
members) in the handlers it installs.

    problems.install(app, invalid_request=..., http_error=..., unexpected=...)
    problems.handle(app, MyDomainError, lambda request, error: ProblemResponse(...))

Requires FastAPI (the kit's `http` extra); only HTTP processes import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from shopkit.errors import FieldViolation

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("shopkit.problems")

E = TypeVar("E", bound=Exception)


class FieldError(BaseModel):
    """One field of the request and what is wrong with it."""

    field: str = Field(description="the field's path in the request, e.g. lines[0].sku, or a header's name")
    description: str = Field(description="what is wrong with it")


class Problem(BaseModel):
    """The members every problem document has (the same shape in every HTTP process); an API
    subclasses it to document its own extra members."""

    type: str = Field(description="URI of the problem type (about:blank when it has none)")
    title: str = Field(description="short summary of the problem type")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong in this occurrence")
    code: str = Field(description="stable machine-readable code")
    errors: list[FieldError] = Field(description="the request's field violations; empty when there are none")
    instance: str | None = Field(None, description="the request's path")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def status_phrase(status: int) -> str:
    """The reason phrase of an HTTP status ("Not Found"); "Error" for codes without one (499)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def status_name(status: int) -> str:
    """The status as a code (NOT_FOUND, METHOD_NOT_ALLOWED); HTTP_ERROR for codes without a name."""
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "HTTP_ERROR"


def problem_document(
    status: int, code: str, detail: str, *, type: str = "about:blank", title: str = "", **members: Any
) -> dict[str, Any]:
    """A problem document; `title` defaults to the status phrase, `members` are the API's extras
    (an API whose document is `Problem` passes `errors=field_errors(...)`, also when there are none)."""
    return {
        "type": type,
        "title": title or status_phrase(status),
        "status": status,
        "detail": detail,
        "code": code,
        **members,
    }


def field_errors(violations: Iterable[FieldViolation]) -> list[dict[str, str]]:
    """The `errors` member of a problem document (`FieldError`s)."""
    return [{"field": v.field, "description": v.description} for v in violations]


def field_path(location: Sequence[int | str]) -> str:
    """Pydantic's error location as the request's field path, without the part of the request it
    is in: ("body", "card", "cvc") -> card.cvc, ("body", "lines", 0, "sku") -> lines[0].sku,
    ("query", "page_size") -> page_size; the whole body is `body`."""
    parts = location[1:] if location and location[0] in ("body", "query", "path", "header") else location
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def request_violations(error: RequestValidationError) -> list[FieldViolation]:
    """FastAPI's validation errors as field violations. Only pydantic's message is kept, never the
    rejected input (it may be a card number or a password)."""
    return [
        FieldViolation("body" if e.get("type") == "json_invalid" else field_path(e.get("loc", ())), str(e.get("msg")))
        for e in error.errors()
    ]


def violations_detail(violations: Iterable[FieldViolation]) -> str:
    """One line naming every violation, for `detail`."""
    return "; ".join(f"{v.field}: {v.description}" for v in violations) or "the request is invalid"


def handle(app: FastAPI, error_type: type[E], respond: Callable[[Request, E], Response]) -> None:
    """Answer `error_type` (and its subclasses) with `respond`."""

    async def handler(request: Request, error: Exception) -> Response:
        assert isinstance(error, error_type)
        return respond(request, error)

    app.add_exception_handler(error_type, handler)


def install(
    app: FastAPI,
    *,
    invalid_request: Callable[[Request, list[FieldViolation]], Response],
    http_error: Callable[[Request, HTTPException], Response],
    unexpected: Callable[[Request, Exception], Response],
) -> None:
    """The handlers every API needs: a request that does not validate (bad JSON, wrong types,
    missing fields), Starlette's HTTP errors (unknown route 404, 405, ...), and any other exception
    (logged here with its traceback, then answered by `unexpected`). Add the API's own errors with
    `handle`."""

    def on_unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return unexpected(request, error)

    handle(app, RequestValidationError, lambda request, error: invalid_request(request, request_violations(error)))
    handle(app, HTTPException, http_error)
    handle(app, Exception, on_unexpected)
