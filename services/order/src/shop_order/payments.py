"""A small client of the payment provider (the sandbox's HTTP API) for what the order owes it:
capture, void and refund of the authorisation checkout handed over.

Each call is made once and reports an Outcome; retrying is the effect worker's job, always with
the same Idempotency-Key, so a retry never applies an operation twice at the provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode

from shopkit import deadlines, tracing

log = logging.getLogger("shop_order.payments")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call achieved: done (with the provider's reference), or failed (retryable or not)."""

    done: bool
    reference: str = ""
    amount: int = 0
    retryable: bool = False
    error: str = ""


def _failed(response: httpx.Response, body: dict[str, Any]) -> Outcome:
    code = str(body.get("code", ""))
    # 5xx, a concurrent request with the same key, or the provider saying so: try again later.
    retryable = response.status_code >= 500 or code == "request_in_progress" or bool(body.get("retryable"))
    detail = body.get("detail") or response.text[:200]
    return Outcome(False, retryable=retryable, error=f"{response.status_code} {code}: {detail}")


class PaymentProvider:
    def __init__(self, base_url: str, timeout: float):
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self.timeout = timeout
        self._tracer = tracing.tracer("shop_order.payments")

    def _timeout(self) -> float:
        """Inside an RPC, no longer than what is left of its deadline."""
        return min(self.timeout, deadlines.remaining(self.timeout))

    async def close(self) -> None:
        await self.http.aclose()

    async def capture(self, authorisation_id: str, amount: int, key: str) -> Outcome:
        response, body = await self._post(f"/v1/authorizations/{authorisation_id}/capture", {"amount": amount}, key)
        if response is None:
            return Outcome(False, retryable=True, error=str(body["error"]))
        if response.is_success:
            captures = body.get("captures") or [{}]
            reference = str(captures[-1].get("id") or body.get("id", ""))
            return Outcome(True, reference=reference, amount=int(body.get("amount_captured", amount)))
        if body.get("authorization_status") == "captured":
            # Captured earlier (e.g. by an operator in the provider's console): take what was captured.
            return await self._already_captured(authorisation_id)
        return _failed(response, body)

    async def void(self, authorisation_id: str, key: str) -> Outcome:
        response, body = await self._post(f"/v1/authorizations/{authorisation_id}/void", None, key)
        if response is None:
            return Outcome(False, retryable=True, error=str(body["error"]))
        if response.is_success or body.get("authorization_status") == "voided":
            return Outcome(True, reference=authorisation_id)
        return _failed(response, body)

    async def refund(self, authorisation_id: str, amount: int, key: str) -> Outcome:
        payload = {"authorization": authorisation_id, "amount": amount}
        response, body = await self._post("/v1/refunds", payload, key)
        if response is None:
            return Outcome(False, retryable=True, error=str(body["error"]))
        if response.is_success:
            return Outcome(True, reference=str(body.get("id", "")), amount=int(body.get("amount", amount)))
        return _failed(response, body)

    async def _already_captured(self, authorisation_id: str) -> Outcome:
        try:
            response = await self.http.get(
                f"/v1/authorizations/{authorisation_id}", headers=tracing.inject_headers(), timeout=self._timeout()
            )
        except httpx.HTTPError as exc:
            return Outcome(False, retryable=True, error=f"{type(exc).__name__}: {exc}")
        if not response.is_success:
            return _failed(response, _json(response))
        body = _json(response)
        return Outcome(True, reference=authorisation_id, amount=int(body.get("amount_captured", 0)))

    async def _post(
        self, path: str, payload: dict[str, Any] | None, key: str
    ) -> tuple[httpx.Response | None, dict[str, Any]]:
        """POST with the Idempotency-Key and the trace context; (None, {"error": ...}) when nothing came back."""
        operation = path.rsplit("/", 1)[-1]
        with self._tracer.start_as_current_span(
            f"payment {operation}", kind=SpanKind.CLIENT, attributes={"http.request.method": "POST"}
        ) as span:
            headers = tracing.inject_headers({"Idempotency-Key": key})
            try:
                response = await self.http.post(path, json=payload, headers=headers, timeout=self._timeout())
            except httpx.HTTPError as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                log.warning("payment provider unreachable", extra={"path": path, "error": str(exc)})
                return None, {"error": f"{type(exc).__name__}: {exc}"}
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, str(response.status_code)))
            return response, _json(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
