"""B1's baseline: the least database work one checkout needs, in raw asyncpg, against the stack's PostgreSQL.

Each service keeps its own database, so the floor does too: bench tables in a schema of their own
(`bench_floor`, never a service's tables) in each of the seven databases, one small pool each (a service's
pool is as small), and
per checkout the statements below, one after the other as the saga needs them: 14 statements, 10 commits.
A client process of its own; prints one JSON line per concurrency.

    python -m shop_devstack.bench.floor ADMIN_URL CONCURRENCIES DURATION WARMUP
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import uvloop

SERVICES = ("checkout", "pricing", "fraud", "inventory", "sandbox", "order", "cart")
SCHEMA_NAME = "bench_floor"
POOL_SIZE = 4  # per database; the stack's services keep 5 each on the same server (max_connections 100)
SKUS = 1000
CARTS = 10_000  # carts that exist before the sale (the checkout closes one)

SCHEMA = {
    "checkout": """
        CREATE TABLE checkouts (id uuid PRIMARY KEY, idempotency_key text UNIQUE NOT NULL, cart_id bigint NOT NULL,
            state text NOT NULL, step text NOT NULL, total bigint, created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE outbox (id uuid PRIMARY KEY, subject text NOT NULL, payload bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz);""",
    "pricing": """
        CREATE TABLE prices (sku text PRIMARY KEY, currency text NOT NULL, amount bigint NOT NULL);
        INSERT INTO prices SELECT 'SKU-' || n, 'USD', 499 + n FROM generate_series(1, 1000) n;""",
    "fraud": """
        CREATE TABLE assessments (id uuid PRIMARY KEY, checkout_id uuid UNIQUE NOT NULL, score int NOT NULL,
            decision text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());""",
    "inventory": """
        CREATE TABLE stock (sku text PRIMARY KEY, on_hand int NOT NULL, reserved int NOT NULL,
            CHECK (reserved >= 0 AND reserved <= on_hand));
        CREATE TABLE reservations (id uuid PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL, state text NOT NULL);
        INSERT INTO stock SELECT 'SKU-' || n, 1000000000, 0 FROM generate_series(1, 1000) n;""",
    "sandbox": """
        CREATE TABLE authorizations (id uuid PRIMARY KEY, idempotency_key text UNIQUE NOT NULL, amount bigint NOT NULL,
            captured bigint NOT NULL DEFAULT 0, status text NOT NULL);""",
    "order": """
        CREATE TABLE orders (id uuid PRIMARY KEY, checkout_id uuid UNIQUE NOT NULL, status text NOT NULL,
            total bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE order_lines (order_id uuid NOT NULL, position int NOT NULL, sku text NOT NULL,
            quantity int NOT NULL, price bigint NOT NULL, PRIMARY KEY (order_id, position));
        CREATE TABLE outbox (id uuid PRIMARY KEY, subject text NOT NULL, payload bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz);""",
    "cart": """
        CREATE TABLE carts (id bigint PRIMARY KEY, status text NOT NULL, version int NOT NULL);
        INSERT INTO carts SELECT n, 'open', 1 FROM generate_series(1, 10000) n;""",  # CARTS
}

Pools = dict[str, asyncpg.Pool]


async def one_checkout(db: Pools, n: int) -> None:
    """The database work of the n-th checkout, step by step."""
    checkout_id, key, sku = uuid.uuid4(), uuid.uuid4().hex, f"SKU-{n % SKUS + 1}"
    cart_id = n % CARTS + 1
    # checkout: the saga's row (idempotency key) - commit 1
    await db["checkout"].execute(
        "INSERT INTO checkouts (id, idempotency_key, cart_id, state, step) VALUES ($1, $2, $3, 'running', 'quote')",
        checkout_id,
        key,
        cart_id,
    )
    # pricing: the quote (a read)
    price = await db["pricing"].fetchval("SELECT amount FROM prices WHERE sku = $1 AND currency = 'USD'", sku)
    # fraud: the assessment - commit 2
    await db["fraud"].execute(
        "INSERT INTO assessments (id, checkout_id, score, decision) VALUES ($1, $2, 5, 'accept')",
        uuid.uuid4(),
        checkout_id,
    )
    # inventory: reserve (conditional update, no oversell) and the reservation row - commit 3
    reservation = uuid.uuid4()
    async with db["inventory"].acquire() as conn, conn.transaction():
        reserved = await conn.fetchval(
            "UPDATE stock SET reserved = reserved + 1 WHERE sku = $1 AND on_hand - reserved >= 1 RETURNING sku", sku
        )
        assert reserved is not None, "the floor's stock ran out"
        await conn.execute("INSERT INTO reservations VALUES ($1, $2, 1, 'held')", reservation, sku)
    # payment provider: the authorisation - commit 4
    authorization = uuid.uuid4()
    await db["sandbox"].execute(
        "INSERT INTO authorizations (id, idempotency_key, amount, status) VALUES ($1, $2, $3, 'authorized')",
        authorization,
        key,
        price,
    )
    # checkout: the saga's state after the payment - commit 5
    await db["checkout"].execute("UPDATE checkouts SET step = 'order', updated_at = now() WHERE id = $1", checkout_id)
    # order: the order, its line and its event - commit 6
    order_id = uuid.uuid4()
    async with db["order"].acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO orders (id, checkout_id, status, total) VALUES ($1, $2, 'confirmed', $3)",
            order_id,
            checkout_id,
            price,
        )
        await conn.execute("INSERT INTO order_lines VALUES ($1, 0, $2, 1, $3)", order_id, sku, price)
        await conn.execute(
            "INSERT INTO outbox (id, subject, payload) VALUES ($1, 'shop.order.placed', $2)",
            uuid.uuid4(),
            order_id.bytes,
        )
    # inventory: commit the reservation - commit 7
    await db["inventory"].execute("UPDATE stock SET on_hand = on_hand - 1, reserved = reserved - 1 WHERE sku = $1", sku)
    # payment provider: capture - commit 8
    await db["sandbox"].execute(
        "UPDATE authorizations SET captured = amount, status = 'captured' WHERE id = $1", authorization
    )
    # cart: closed - commit 9
    await db["cart"].execute("UPDATE carts SET status = 'checked_out', version = version + 1 WHERE id = $1", cart_id)
    # checkout: completed, with its event - commit 10
    async with db["checkout"].acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE checkouts SET state = 'completed', step = 'done', total = $2 WHERE id = $1", checkout_id, price
        )
        await conn.execute(
            "INSERT INTO outbox (id, subject, payload) VALUES ($1, 'shop.checkout.completed', $2)",
            uuid.uuid4(),
            checkout_id.bytes,
        )


async def create_tables(admin_url: str) -> dict[str, str]:
    """Fresh bench tables with their rows, in a schema of their own in each service's database; service -> URL."""
    urls = {service: admin_url.replace("/postgres?", f"/{service}?", 1) for service in SERVICES}
    for service, url in urls.items():
        conn = await asyncpg.connect(url, server_settings={"search_path": SCHEMA_NAME})
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA_NAME} CASCADE; CREATE SCHEMA {SCHEMA_NAME}")
            await conn.execute(SCHEMA[service])
        finally:
            await conn.close()
    return urls


async def drop_tables(urls: dict[str, str]) -> None:
    for url in urls.values():
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA_NAME} CASCADE")
        finally:
            await conn.close()


async def closed_loop(
    step: Callable[[int], Awaitable[None]], concurrency: int, seconds: float, first: int
) -> tuple[int, list[float]]:
    """Run `step(n)` from `concurrency` coroutines for `seconds`; (calls, latencies)."""
    counter = itertools.count(first)
    latencies: list[float] = []
    until = time.perf_counter() + seconds

    async def worker() -> None:
        for n in counter:
            if time.perf_counter() >= until:
                return
            sent = time.perf_counter()
            await step(n)
            latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies


async def measure(admin_url: str, concurrencies: list[int], seconds: float, warmup: float) -> list[dict[str, Any]]:
    urls = await create_tables(admin_url)
    pools: Pools = {}
    results = []
    try:
        for service, url in urls.items():
            pools[service] = await asyncpg.create_pool(
                url, min_size=POOL_SIZE, max_size=POOL_SIZE, server_settings={"search_path": SCHEMA_NAME}
            )
        first = 1
        for concurrency in concurrencies:
            calls, _ = await closed_loop(lambda n: one_checkout(pools, n), concurrency, warmup, first)
            first += calls + concurrency
            started = time.perf_counter()
            calls, latencies = await closed_loop(lambda n: one_checkout(pools, n), concurrency, seconds, first)
            elapsed = time.perf_counter() - started
            first += calls + concurrency
            latencies.sort()
            results.append(
                {
                    "concurrency": concurrency,
                    "calls": calls,
                    "rate": round(calls / elapsed, 1),
                    "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else 0.0,
                }
            )
    finally:
        for pool in pools.values():
            await pool.close()
        await drop_tables(urls)
    return results


def main() -> None:
    admin_url, concurrencies, seconds, warmup = sys.argv[1:5]
    levels = [int(c) for c in concurrencies.split(",")]
    for result in uvloop.run(measure(admin_url, levels, float(seconds), float(warmup))):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
