"""The parent's side of the checkout benchmarks: the SKUs buyers put in their carts, the buyer client
process (shop_devstack.bench.shoppers) and one measured run with the servers' CPU around it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shop_devstack.bench.cpu import spent
from shop_devstack.bench.rig import BenchError
from shop_devstack.bench.stack import BenchStack
from shop_devstack.demo_size import DEMO_PRODUCTS

SETTLE_SECONDS = 1.0  # after the backlog drained: effects outside NATS (capture) finish
CLIENT_TIMEOUT_SECONDS = 900.0


def demo_skus(count: int = DEMO_PRODUCTS) -> list[str]:
    """SKUs a web shopper can buy from the first `count` demo products (active, on the web channel,
    not gift cards)."""
    from shop_devstack.seed import demo_products

    return [
        str(variant["sku"])
        for product in demo_products(count)
        if product["status"] == "PRODUCT_STATUS_ACTIVE" and "CHANNEL_WEB" in product["channels"]
        for variant in product["variants"]
        if not str(variant["sku"]).startswith(("GIFT", "GC-"))
    ]


@dataclass
class Run:
    """One measured checkout run: the client's summary and the servers' CPU seconds per process."""

    result: dict[str, Any]
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return float(self.result["rate"])

    @property
    def count(self) -> int:
        return int(self.result["count"])

    def orders(self) -> int:
        return len(self.result["completed_at"])

    def cpu_ms_per_checkout(self) -> dict[str, float]:
        return {name: 1000 * seconds / max(1, self.count) for name, seconds in self.cpu.items()}

    def outcome_note(self) -> str:
        return ", ".join(f"{outcome} {n}" for outcome, n in sorted(self.result["outcomes"].items()))


class Buyers:
    """Buyers of one stack; every buyer of the run gets an index of its own (its IP never repeats)."""

    next_index = 0

    def __init__(self, stack: BenchStack, folder: Path, drain_timeout: float):
        self.stack = stack
        self.folder = folder
        self.drain_timeout = drain_timeout

    def prepare(self, skus: list[str], count: int) -> Path:
        skus_file = self.folder / f"skus-{Buyers.next_index}.json"
        skus_file.write_text(json.dumps(skus))
        out = self.folder / f"buyers-{Buyers.next_index}.json"
        self._client(
            "prepare",
            self.stack.gateway_url,
            self.stack.sandbox_url,
            str(skus_file),
            str(count),
            str(Buyers.next_index),
            str(out),
            "--sandbox-ca",
            str(self.stack.ca_file),
        )
        Buyers.next_index += count
        return out

    def run(self, skus: list[str], count: int, concurrency: int) -> Run:
        """Prepare `count` buyers, wait for a quiet stack, then measure their checkouts at `concurrency`."""
        buyers = self.prepare(skus, count)
        self.drain()
        processes = self.stack.processes()
        before = processes.snapshot()
        result = self._client("checkout", self.stack.gateway_url, str(buyers), str(concurrency))
        self.drain()  # the checkouts' events and effects are part of their cost
        time.sleep(SETTLE_SECONDS)
        return Run(result, spent(before, processes.snapshot()))

    def drain(self) -> None:
        try:
            self.stack.wait_drained(self.drain_timeout)
        except TimeoutError as exc:
            print(f"  {exc}; measuring anyway", flush=True)

    def _client(self, *args: str) -> dict[str, Any]:
        completed = subprocess.run(
            [sys.executable, "-m", "shop_devstack.bench.shoppers", *args],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_SECONDS,
            env=os.environ.copy(),
        )
        if completed.returncode != 0:
            raise BenchError(f"the buyers' client failed ({args[0]}):\n{completed.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        return result


class StockAdmin:
    """Stock of one SKU through the gateway's admin API (as the flash-sale load scenario sets it)."""

    def __init__(self, stack: BenchStack):
        self.client = httpx.Client(base_url=stack.gateway_url, timeout=30.0)
        issued = self.client.post("/v1/auth/token", json={"username": "bench-admin", "role": "admin"})
        issued.raise_for_status()
        self.client.headers["authorization"] = f"Bearer {issued.json()['access_token']}"

    def levels(self, sku: str) -> list[dict[str, Any]]:
        reply = self.client.get("/v1/stock", params={"sku": sku})
        reply.raise_for_status()
        levels: list[dict[str, Any]] = reply.json()["stock"]
        return levels

    def open_sale(self, sku: str, units: int) -> None:
        """`units` available at the first location, none anywhere else (reservations kept)."""
        levels = self.levels(sku)
        entries = [
            {"sku": sku, "location_id": level["location_id"], "on_hand": level["reserved"] + (units if i == 0 else 0)}
            for i, level in enumerate(levels)
        ]
        reply = self.client.put("/v1/stock", json={"entries": entries, "reason": "bench flash sale"})
        reply.raise_for_status()

    def close(self) -> None:
        self.client.close()
