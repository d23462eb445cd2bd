"""The chaos suite's buyers, retrying as a storefront would while processes die under them.

Every buyer (prepared by the benchmark's `shoppers.prepare`: own user, IP, device and card) posts one
checkout with an Idempotency-Key and keeps at it for a bounded time: the same key again after a 5xx, a
429, a timeout or a refused connection (honouring Retry-After), a 202 polled until it settles, and a
checkout that failed for a transient reason (code `unavailable`) posted again under the same key. The
outcome says what the buyer was finally told, and every order id it was shown is kept: each must exist.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from shop_devstack.bench.shoppers import ADDRESS, SETTLED_WITH_ORDER

COMPLETED, DECLINED, FAILED = "completed", "declined", "failed"
# Refusals for a business reason: the shop answered, and answering no was right.
DECLINE_CODES = frozenset(
    {
        "payment_declined",
        "fraud_blocked",
        "fraud_rejected",
        "out_of_stock",
        "approval_rejected",
        "payment_method_invalid",
    }
)
# A checkout that failed this way charged nothing: the same key runs it again.
TRANSIENT_CODES = frozenset({"unavailable"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
REQUEST_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 1.0
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 4.0
RETRY_AFTER_MAX_SECONDS = 10.0


@dataclass
class Outcome:
    """What one buyer was finally told."""

    key: str
    result: str = FAILED  # completed | declined | failed
    code: str = "no answer"  # the checkout's status, its failure code, `http 503`, `ConnectError`, `timeout`
    step: str = ""  # the saga step a failure names
    checkout_id: str = ""
    posts: int = 0  # POSTs sent with the key
    seconds: float = 0.0
    orders_shown: set[str] = field(default_factory=set)  # order ids in any answer the buyer got


def _json(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(reply: httpx.Response | None, backoff: float) -> float:
    header = reply.headers.get("retry-after", "") if reply is not None else ""
    if header.isdigit():
        return min(RETRY_AFTER_MAX_SECONDS, float(header))
    return backoff


class Storefront:
    """Buyers' checkouts against one gateway, each given `budget` seconds to reach a final answer."""

    def __init__(self, client: httpx.AsyncClient, gateway: str, budget: float):
        self.client = client
        self.gateway = gateway
        self.budget = budget

    async def buy(self, buyer: dict[str, Any]) -> Outcome:
        started = time.monotonic()
        outcome = Outcome(buyer["key"])
        try:
            await self._buy(buyer, outcome, started + self.budget)
        finally:
            outcome.seconds = time.monotonic() - started
        return outcome

    async def _buy(self, buyer: dict[str, Any], outcome: Outcome, deadline: float) -> None:
        body = {"payment_method": buyer["payment_method"], "shipping_address": ADDRESS}
        body["fulfillment"] = {"method": "ship"}
        headers = {**buyer["headers"], "Idempotency-Key": buyer["key"]}
        backoff = BACKOFF_FIRST_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            outcome.posts += 1
            reply: httpx.Response | None = None
            try:
                url, timeout = f"{self.gateway}/v1/checkout", min(REQUEST_TIMEOUT_SECONDS, left)
                reply = await self.client.post(url, json=body, headers=headers, timeout=timeout)
            except httpx.HTTPError as error:
                self._failed(outcome, type(error).__name__)
            else:
                answer = _json(reply)
                self._saw(outcome, answer)
                if reply.status_code == 201:
                    self._settled(outcome, answer)
                    return
                if reply.status_code == 202:
                    settled = await self._poll(answer.get("checkout_id", ""), buyer["headers"], outcome, deadline)
                    if settled is None:
                        return  # out of time while it ran: `timeout`
                    if self._settled(outcome, settled):
                        return
                else:
                    self._problem(outcome, reply.status_code, answer)
                    if reply.status_code not in RETRYABLE_STATUSES:
                        return  # a final refusal (402, 409, 422 ...)
            await asyncio.sleep(min(max(0.0, deadline - time.monotonic()), _retry_after(reply, backoff)))
            backoff = min(BACKOFF_MAX_SECONDS, backoff * 2)

    async def _poll(
        self, checkout_id: str, headers: dict[str, str], outcome: Outcome, deadline: float
    ) -> dict[str, Any] | None:
        """The checkout once it no longer runs; None (outcome `timeout`) when the deadline came first."""
        outcome.checkout_id = checkout_id or outcome.checkout_id
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            try:
                reply = await self.client.get(
                    f"{self.gateway}/v1/checkout/{checkout_id}", headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
                )
            except httpx.HTTPError:
                continue  # the gateway (or what it calls) is down: a storefront keeps polling
            answer = _json(reply)
            if reply.status_code != 200:
                continue
            self._saw(outcome, answer)
            if answer.get("status") != "running":
                return answer
            outcome.step = _current_step(answer.get("steps") or [])
        outcome.result, outcome.code = FAILED, "timeout"
        return None

    @staticmethod
    def _saw(outcome: Outcome, answer: dict[str, Any]) -> None:
        if answer.get("order_id"):
            outcome.orders_shown.add(str(answer["order_id"]))
        if answer.get("checkout_id"):
            outcome.checkout_id = str(answer["checkout_id"])

    @staticmethod
    def _settled(outcome: Outcome, answer: dict[str, Any]) -> bool:
        """Record a settled checkout (201 body or GET body); False when its failure is worth a retry."""
        status = str(answer.get("status", ""))
        if status in SETTLED_WITH_ORDER:
            outcome.result, outcome.code, outcome.step = COMPLETED, status, ""
            return True
        failure = answer.get("failure") or {}
        code = str(failure.get("code", "") or status).lower()
        outcome.code, outcome.step = code, str(failure.get("step", ""))
        outcome.result = DECLINED if code in DECLINE_CODES else FAILED
        return code not in TRANSIENT_CODES

    @staticmethod
    def _problem(outcome: Outcome, status: int, answer: dict[str, Any]) -> None:
        code = str(answer.get("code") or f"http {status}").lower()
        outcome.code = code  # the problem's code, as the checkout's own failure code reads
        outcome.step = str((answer.get("metadata") or {}).get("step", ""))
        outcome.result = DECLINED if code in DECLINE_CODES else FAILED

    @staticmethod
    def _failed(outcome: Outcome, code: str) -> None:
        outcome.result, outcome.code = FAILED, code


def _current_step(steps: Sequence[dict[str, Any]]) -> str:
    running = [s for s in steps if s.get("state") in ("running", "waiting")]
    return str(running[-1]["kind"]) if running else ""


async def run_buyers(
    gateway: str,
    buyers: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    budget: float,
    rate: float | None = None,
    until: float | None = None,
) -> list[Outcome]:
    """Every buyer's checkout from `concurrency` workers; with `rate`, the n-th starts no earlier than n/rate
    seconds in; no new checkout starts after the monotonic time `until`."""
    queue = iter(enumerate(buyers))
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits) as client:
        storefront = Storefront(client, gateway, budget)

        async def worker() -> None:
            for index, buyer in queue:
                if rate:
                    await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
                if until is not None and time.monotonic() > until:
                    return
                outcomes.append(await storefront.buy(buyer))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes
