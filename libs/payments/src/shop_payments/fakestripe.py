"""A fake Stripe for tests and local runs: localstripe (a stateful fake Stripe server from PyPI) on
loopback, plus the parts of Stripe's contract it lacks that the shop relies on.

- Idempotency-Key: Stripe keeps the first response to a POST with a key and answers every repeat of
  that key with it; localstripe ignores the header, so a repeated capture would be refused and a
  repeated authorisation would hold twice. A middleware replays the first response as Stripe does.
- Capture: Stripe captures only an intent in requires_capture (localstripe also a cancelled one); a
  middleware answers anything else with Stripe's error code, payment_intent_unexpected_state.
- The SDK's API version names a PaymentIntent's payment method types `allowed_payment_method_types`;
  localstripe is taught that name.

State lives in memory only (localstripe's pickle file under /tmp is not written).

    shop-fakestripe --port 8420     # then STRIPE_API_BASE=http://127.0.0.1:8420 (GET /readyz: up)

What localstripe offers the tests: any `sk_test_...` key; cards 4242424242424242 (authorised),
4000000000000341 (declined at confirmation, card_declined), 4000000000003220 / 4000002500003155
(3-D Secure: requires_action), completed with POST /v1/payment_intents/{id}/_authenticate
(client_secret, success=true|false); DELETE /_config/data empties the store.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def idempotency_middleware() -> Middleware:
    replies: dict[tuple[str, str, str], _Reply] = {}
    locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        slot = (request.headers.get("Authorization", ""), key, request.path)
        async with locks.setdefault(slot, asyncio.Lock()):
            reply = replies.get(slot)
            if reply is None:
                response = await handler(request)
                if isinstance(response, web.Response) and response.status < 500:  # Stripe keeps no 5xx
                    body = response.body if isinstance(response.body, bytes) else b""
                    replies[slot] = _Reply(response.status, body, response.content_type)
                return response
        return web.Response(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type,
            headers={"Idempotent-Replayed": "true"},
        )

    return middleware


_CAPTURE = re.compile(r"^/v1/payment_intents/(pi_\w+)/capture$")


def capture_rule_middleware() -> Middleware:
    """Stripe captures only an intent in requires_capture; localstripe also captures a cancelled one."""
    from localstripe import resources  # type: ignore[import-untyped]

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = _CAPTURE.match(request.path) if request.method == "POST" else None
        intent = resources.store.get(f"payment_intent:{match.group(1)}") if match else None
        if intent is not None and intent.status != "requires_capture":
            error = {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": f"This PaymentIntent could not be captured because it has a status of {intent.status}.",
            }
            return web.json_response({"error": error}, status=400)
        return await handler(request)

    return middleware


def _accept_allowed_payment_method_types(intent_class: Any) -> None:
    """The SDK's API version names a PaymentIntent's payment_method_types allowed_payment_method_types;
    localstripe knows only the older name (and refuses unknown parameters)."""
    original = intent_class.__init__

    def init(self: Any, *args: Any, allowed_payment_method_types: Any = None, **kwargs: Any) -> None:
        if allowed_payment_method_types is not None:
            kwargs.setdefault("payment_method_types", allowed_payment_method_types)
        original(self, *args, **kwargs)

    intent_class.__init__ = init


def application() -> web.Application:
    from localstripe import resources, server  # type: ignore[import-untyped]

    resources.store.dump_to_disk = lambda: None  # memory only
    _accept_allowed_payment_method_types(resources.PaymentIntent)
    app: web.Application = server.app
    app.middlewares.insert(0, idempotency_middleware())
    app.middlewares.insert(1, capture_rule_middleware())
    return app


async def _probe(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main(argv: list[str] | None = None) -> None:
    """`shop-fakestripe [serve] [--host H] [--port P]`; HTTP_HOST/HTTP_PORT as the dev stack sets them."""
    parser = argparse.ArgumentParser(prog="shop-fakestripe", description="localstripe with Idempotency-Key")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--host", default=os.environ.get("HTTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HTTP_PORT", "8420")))
    args = parser.parse_args(argv)
    app = application()
    # Probes before localstripe's authentication (it wants a key on every other path).
    app.middlewares.insert(0, _probes_middleware)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


@web.middleware
async def _probes_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "GET" and request.path in ("/healthz", "/readyz"):
        return await _probe(request)
    return await handler(request)


if __name__ == "__main__":
    main()
