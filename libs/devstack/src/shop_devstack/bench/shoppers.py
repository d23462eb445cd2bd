"""The buyers of the checkout benchmarks, a client process of its own (never a server's event loop).

`prepare` makes N buyers ready to pay, as a storefront would before the sale starts: a token from the
gateway's dev issuer, a card of their own tokenised at the payment sandbox (its public face, over HTTPS
checked against --sandbox-ca, without a client certificate, as a browser), one line in the cart. Each
buyer is a separate person to the fraud checks (own user, IP, device and card), as in a real sale.
`checkout` then posts every buyer's `POST /v1/checkout` (with an Idempotency-Key) from C keep-alive
connections in a closed loop and prints one JSON summary.

    python -m shop_devstack.bench.shoppers prepare GATEWAY SANDBOX SKUS_FILE COUNT FIRST OUT_FILE [--sandbox-ca CA]
    python -m shop_devstack.bench.shoppers checkout GATEWAY BUYERS_FILE CONCURRENCY
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
import ssl
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvloop

PREPARE_CONCURRENCY = 8
POLL_SECONDS = 1.0  # as a storefront polls a 202; faster polling by 64 buyers is itself a load
SETTLED_WITH_ORDER = frozenset({"completed", "pending_review", "pending_approval"})
FIRST_IP = ipaddress.ip_address("198.18.0.1")  # the benchmarking range (198.18.0.0/15): one address per buyer
ADDRESS = {
    "name": "Bench Buyer",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def new_card_number() -> str:
    """A Visa test number of the buyer's own (the sandbox authorises every valid number but its test cards)."""
    prefix = "424242" + "".join(random.choices("0123456789", k=9))
    return next(number for d in "0123456789" if luhn_valid(number := prefix + d))


async def prepare_one(client: httpx.AsyncClient, gateway: str, sandbox: str, sku: str, index: int) -> dict[str, Any]:
    username = f"bench-{uuid.uuid4().hex[:12]}"
    headers = {"x-forwarded-for": str(FIRST_IP + index), "x-device-id": f"bench-device-{uuid.uuid4().hex}"}
    issued = await client.post(
        f"{gateway}/v1/auth/token", json={"username": username, "role": "customer"}, headers=headers
    )
    issued.raise_for_status()
    headers["authorization"] = f"Bearer {issued.json()['access_token']}"
    card = {"number": new_card_number(), "exp_month": 12, "exp_year": time.gmtime().tm_year + 2, "cvc": "123"}
    method = await client.post(f"{sandbox}/v1/payment_methods", json={"card": card})
    method.raise_for_status()
    added = await client.post(f"{gateway}/v1/cart/items", json={"sku": sku, "quantity": 1}, headers=headers)
    added.raise_for_status()
    return {"headers": headers, "payment_method": method.json()["id"], "key": f"bench-{uuid.uuid4().hex}"}


def sandbox_context(ca_file: str | Path | None) -> ssl.SSLContext | bool:
    """How the client verifies an https sandbox: against `ca_file` alone (the stack's CA), else the
    system's roots. Never without verification."""
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True


async def prepare(
    gateway: str,
    sandbox: str,
    skus: list[str],
    count: int,
    first: int,
    verify: ssl.SSLContext | bool = True,
) -> list[dict[str, Any]]:
    """`verify`: how to check the sandbox's certificate (`sandbox_context`); the gateway is plain HTTP."""
    todo = iter(range(count))
    buyers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=60.0, verify=verify) as client:

        async def worker() -> None:
            for index in todo:
                buyers.append(await prepare_one(client, gateway, sandbox, skus[index % len(skus)], first + index))

        await asyncio.gather(*(worker() for _ in range(PREPARE_CONCURRENCY)))
    return buyers


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))]


async def checkout(gateway: str, buyers: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Every buyer's checkout from `concurrency` connections. The rate counts the answers that came while
    all connections were busy (until the first found no buyer left), so the tail does not dilute it."""
    queue = iter(buyers)
    answers: list[tuple[float, float, int, str]] = []  # (sent, answered, status, checkout status)
    exhausted_at = 0.0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120.0, limits=limits) as client:

        async def worker() -> None:
            nonlocal exhausted_at
            for buyer in queue:
                body = {"payment_method": buyer["payment_method"], "shipping_address": ADDRESS}
                body["fulfillment"] = {"method": "ship"}
                headers = {**buyer["headers"], "Idempotency-Key": buyer["key"]}
                sent = time.perf_counter()
                try:
                    reply = await client.post(f"{gateway}/v1/checkout", json=body, headers=headers)
                    status, outcome = reply.status_code, _outcome(reply)
                    if status == 202:  # still running: poll until it settles, as a storefront does
                        status, outcome = await _settled(client, gateway, reply, buyer["headers"])
                except httpx.HTTPError as error:
                    status, outcome = 0, type(error).__name__
                answers.append((sent, time.perf_counter(), status, outcome))
            exhausted_at = exhausted_at or time.perf_counter()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        finished = time.perf_counter()
    window = max(1e-6, (exhausted_at or finished) - started)
    in_window = sum(1 for _, answered, _, _ in answers if answered <= started + window)
    latencies = sorted(answered - sent for sent, answered, _, _ in answers)
    return {
        "count": len(answers),
        "seconds": round(finished - started, 3),
        "window_seconds": round(window, 3),
        "rate": round(in_window / window, 2)
        if in_window >= concurrency
        else round(len(answers) / (finished - started), 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "statuses": dict(Counter(str(status) for _, _, status, _ in answers)),
        "outcomes": dict(Counter(outcome for _, _, _, outcome in answers)),
        "completed_at": sorted(answered - started for _, answered, status, _ in answers if status == 201),
    }


async def _settled(
    client: httpx.AsyncClient, gateway: str, accepted: httpx.Response, headers: dict[str, str]
) -> tuple[int, str]:
    """(202 or 201, the checkout's status) once it is no longer running (202, "timeout" after 120 s)."""
    url = f"{gateway}/v1/checkout/{accepted.json()['checkout_id']}"
    deadline = time.perf_counter() + 120.0
    while time.perf_counter() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        state = (await client.get(url, headers=headers)).json().get("status", "")
        if state != "running":
            return (201 if state in SETTLED_WITH_ORDER else 202), str(state)
    return 202, "timeout"


def _outcome(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return f"http {reply.status_code}"
    if reply.is_success:
        return str(body.get("status") or f"http {reply.status_code}")
    return f"{reply.status_code} {body.get('code') or body.get('title') or ''}".strip()  # problem+json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shoppers")
    sub = parser.add_subparsers(dest="command", required=True)
    ready = sub.add_parser("prepare")
    for name in ("gateway", "sandbox", "skus_file"):
        ready.add_argument(name)
    ready.add_argument("count", type=int)
    ready.add_argument("first", type=int, help="index of the first buyer (their IPs never repeat in a run)")
    ready.add_argument("out_file", type=Path)
    ready.add_argument(
        "--sandbox-ca", default="", help="the CA (PEM) an https sandbox's certificate is checked against"
    )
    pay = sub.add_parser("checkout")
    pay.add_argument("gateway")
    pay.add_argument("buyers_file", type=Path)
    pay.add_argument("concurrency", type=int)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        skus = json.loads(Path(args.skus_file).read_text())
        verify = sandbox_context(args.sandbox_ca)
        buyers = uvloop.run(prepare(args.gateway, args.sandbox, skus, args.count, args.first, verify))
        args.out_file.write_text(json.dumps(buyers))
        print(json.dumps({"prepared": len(buyers)}), flush=True)
    else:
        buyers = json.loads(args.buyers_file.read_text())
        print(json.dumps(uvloop.run(checkout(args.gateway, buyers, args.concurrency))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
