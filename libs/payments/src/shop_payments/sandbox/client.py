"""Typed async client of the payment sandbox's HTTP API: the provider's client library.

The payment sandbox stands in for an external card processor, and a real processor ships its own
client SDK that merchants depend on. So this module is that SDK (its response models are
`shop_payments.sandbox.schemas`, the ones the sandbox's server answers with). The services reach it
only through the payment port (`shop_payments.port`): `shop_payments.sandbox.adapter` maps these
results and errors to the port's. Storefronts and tests use it directly to tokenise test cards and to
complete 3-D Secure challenges (`shop_sandbox.client` re-exports it for the sandbox's own tests).

    async with SandboxClient(settings.payment_provider_url) as sandbox:
        auth = await sandbox.authorize(pm_id, 1999, "EUR", idempotency_key=attempt_id)

- Mutual TLS: an https URL and an `ssl_context` with the caller's certificate
  (`shopkit.httptls.client_context(settings)`, built once per process).
- Every call has a timeout: the smaller of `timeout` and what is left of the incoming gRPC call's
  deadline (`shopkit.deadlines`), so a provider call never outlives its caller.
- The current trace context goes along (`traceparent`), and each call is a CLIENT span.
- Retries (with backoff) only where they are safe: requests that carry an Idempotency-Key, and
  GETs; on connection errors, timeouts, 5xx and 409 request_in_progress.
- Outcomes other than success are exceptions: `Declined` (with the decline code), `ProviderError`
  (`retryable`), `NotFound`, `Conflict` (state rules, with the authorization's status),
  `InvalidRequest` (field errors, or an Idempotency-Key reused with another body).
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, ValidationError

from shop_payments.sandbox.schemas import Authorization, PaymentMethod, Refund
from shopkit import deadlines, tracing

__all__ = [
    "Authorization",
    "Conflict",
    "Declined",
    "InvalidRequest",
    "NotFound",
    "PaymentError",
    "PaymentMethod",
    "ProviderError",
    "Refund",
    "SandboxClient",
]

M = TypeVar("M", bound=BaseModel)
_OBJECT_ID = re.compile(r"(?<=/)(pm|auth)_[A-Za-z0-9]+")


class PaymentError(Exception):
    """Base of every error the client raises. `problem` is the decoded problem+json body, if any."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", problem: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.problem: Mapping[str, Any] = problem or {}


class Declined(PaymentError):
    """The card was declined; `code` is the decline code (card_declined, insufficient_funds,
    authentication_required, authentication_failed, expired_card). The declined authorization is recorded."""

    def __init__(self, code: str, authorization: Authorization | None, problem: Mapping[str, Any]):
        super().__init__(f"card declined: {code}", status=402, code=code, problem=problem)
        self.authorization = authorization


class ProviderError(PaymentError):
    """The provider failed (processing_error, 5xx, unreachable, timeout). `retryable`: trying again
    later with the same Idempotency-Key may succeed and will not duplicate the effect."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int = 0,
        code: str = "",
        problem: Mapping[str, Any] | None = None,
        authorization: Authorization | None = None,
    ):
        super().__init__(message, status=status, code=code, problem=problem)
        self.retryable = retryable
        self.authorization = authorization


class NotFound(PaymentError):
    """No such payment method or authorization (code resource_missing)."""


class Conflict(PaymentError):
    """The authorization's state forbids the operation: codes authorization_not_capturable,
    authorization_not_voidable, authorization_not_refundable, authorization_not_awaiting_challenge,
    amount_too_large."""

    @property
    def authorization_status(self) -> str:
        return str(self.problem.get("authorization_status", ""))


class InvalidRequest(PaymentError):
    """422: validation_error (see `errors`: field -> message) or idempotency_key_reused."""

    @property
    def errors(self) -> dict[str, str]:
        errors = self.problem.get("errors") or []
        return {str(e.get("field")): str(e.get("description", e.get("message"))) for e in errors}


class SandboxClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.1,
        transport: httpx.AsyncBaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context`: for an https URL with mutual TLS, the context that trusts the provider's CA
        and presents the caller's certificate (`shopkit.httptls.client_context`); else the system's
        roots verify the provider."""
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            verify=ssl_context if ssl_context is not None else True,
            headers={"User-Agent": "shop-sandbox-client/1"},
        )
        self._tracer = tracing.tracer("shop_payments.sandbox.client")

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- API ----------------------------------------------------------------------------------

    async def tokenise(
        self,
        number: str,
        exp_month: int,
        exp_year: int,
        cvc: str,
        *,
        billing_country: str | None = None,
        idempotency_key: str | None = None,
    ) -> PaymentMethod:
        """Turn card details into a payment method (storefronts and tests; services only see ids)."""
        body: dict[str, Any] = {"card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}}
        if billing_country is not None:
            body["billing_country"] = billing_country
        return await self._call("POST", "/v1/payment_methods", PaymentMethod, body, idempotency_key)

    async def authorize(
        self,
        payment_method: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str | None,
        capture: bool = False,
        three_d_secure_authenticated: bool | None = None,
        three_d_secure_challenge: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> Authorization:
        """Hold `amount` (minor units) on the card. Raises Declined or ProviderError otherwise. With
        `three_d_secure_challenge` a card that needs 3-D Secure comes back `requires_action` with a
        `next_action` for the customer instead of being declined."""
        body: dict[str, Any] = {
            "payment_method": payment_method,
            "amount": amount,
            "currency": currency,
            "capture": capture,
        }
        three_d_secure: dict[str, bool] = {}
        if three_d_secure_authenticated is not None:
            three_d_secure["authenticated"] = three_d_secure_authenticated
        if three_d_secure_challenge:
            three_d_secure["challenge"] = True
        if three_d_secure:
            body["three_d_secure"] = three_d_secure
        if metadata:
            body["metadata"] = dict(metadata)
        return await self._call("POST", "/v1/authorizations", Authorization, body, idempotency_key)

    async def capture(
        self, authorization_id: str, *, idempotency_key: str | None, amount: int | None = None
    ) -> Authorization:
        """Take all (default) or part of the authorised amount, once."""
        body = {} if amount is None else {"amount": amount}
        path = f"/v1/authorizations/{authorization_id}/capture"
        return await self._call("POST", path, Authorization, body, idempotency_key)

    async def void(self, authorization_id: str, *, idempotency_key: str | None) -> Authorization:
        """Release the hold of an uncaptured authorization."""
        path = f"/v1/authorizations/{authorization_id}/void"
        return await self._call("POST", path, Authorization, None, idempotency_key)

    async def refund(self, authorization_id: str, *, idempotency_key: str | None, amount: int | None = None) -> Refund:
        """Give back part or (default) all of what was captured and not yet refunded."""
        body: dict[str, Any] = {"authorization": authorization_id}
        if amount is not None:
            body["amount"] = amount
        return await self._call("POST", "/v1/refunds", Refund, body, idempotency_key)

    async def complete_challenge(
        self,
        authorization_id: str,
        client_secret: str,
        *,
        authenticated: bool = True,
        idempotency_key: str | None = None,
    ) -> Authorization:
        """The customer's side of a 3-D Secure challenge (the public face; storefronts and tests)."""
        body = {"client_secret": client_secret, "authenticated": authenticated}
        path = f"/v1/authorizations/{authorization_id}/challenge"
        return await self._call("POST", path, Authorization, body, idempotency_key)

    async def get_authorization(self, authorization_id: str) -> Authorization:
        return await self._call("GET", f"/v1/authorizations/{authorization_id}", Authorization)

    async def get_payment_method(self, payment_method_id: str) -> PaymentMethod:
        return await self._call("GET", f"/v1/payment_methods/{payment_method_id}", PaymentMethod)

    # --- transport ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> M:
        retry_safe = method == "GET" or idempotency_key is not None
        attempts = self.max_attempts if retry_safe else 1
        with self._tracer.start_as_current_span(
            f"{method} {_route(path)}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "server.address": str(self._http.base_url.host)},
        ) as span:
            error: ProviderError | None = None
            for attempt in range(1, attempts + 1):
                timeout = min(self.timeout, deadlines.remaining(self.timeout))
                if timeout <= 0:
                    error = ProviderError("the caller's deadline passed", retryable=True, code="deadline_exceeded")
                    break
                headers = tracing.inject_headers()
                if idempotency_key is not None:
                    headers["Idempotency-Key"] = idempotency_key
                try:
                    response = await self._http.request(method, path, json=body, headers=headers, timeout=timeout)
                except httpx.TransportError as exc:
                    error = ProviderError(f"{method} {path}: {type(exc).__name__}: {exc}", retryable=True)
                else:
                    span.set_attribute("http.response.status_code", response.status_code)
                    if response.is_success:
                        return _parse(model, response)
                    error_or_result = _error(response)
                    if not (isinstance(error_or_result, ProviderError) and error_or_result.retryable):
                        raise error_or_result
                    error = error_or_result
                if attempt < attempts:
                    await self._backoff(attempt)
            assert error is not None
            span.set_status(Status(StatusCode.ERROR, error.code or "unavailable"))
            raise error

    async def _backoff(self, attempt: int) -> None:
        pause = self.backoff_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        await asyncio.sleep(min(pause, max(0.0, deadlines.remaining(pause))))


def _route(path: str) -> str:
    """The route template of a path, for span names (ids would make every name unique)."""
    return _OBJECT_ID.sub("{id}", path)


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise ProviderError(f"unreadable response: {exc}", retryable=False, status=response.status_code) from exc


def _error(response: httpx.Response) -> PaymentError:
    try:
        problem: dict[str, Any] = response.json()
        if not isinstance(problem, dict):
            problem = {}
    except ValueError:
        problem = {}
    status = response.status_code
    code = str(problem.get("code", ""))
    message = str(problem.get("detail") or response.reason_phrase or status)
    authorization = _authorization(problem.get("authorization"))
    if status == 402:
        return Declined(str(problem.get("decline_code") or code or "card_declined"), authorization, problem)
    if status >= 500:
        return ProviderError(
            message, retryable=True, status=status, code=code, problem=problem, authorization=authorization
        )
    if status == 409 and code == "request_in_progress":
        return ProviderError(message, retryable=True, status=status, code=code, problem=problem)
    if status == 404:
        return NotFound(message, status=status, code=code, problem=problem)
    if status == 409:
        return Conflict(message, status=status, code=code, problem=problem)
    if status == 422:
        return InvalidRequest(message, status=status, code=code, problem=problem)
    return PaymentError(message, status=status, code=code, problem=problem)


def _authorization(data: Any) -> Authorization | None:
    if not isinstance(data, dict):
        return None
    try:
        return Authorization.model_validate(data)
    except ValidationError:
        return None
