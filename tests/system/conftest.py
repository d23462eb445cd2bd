"""The whole shop as `shop-dev run` starts it: every service, the payment sandbox and the gateway, each its own
OS process, on a temporary data folder and shifted ports. One stack serves the whole session (it takes ~30 s
to start and seed); SIGINT stops it at the end and its exit code is asserted.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shop_devstack.layout import (
    GATEWAY_GRPC_PORT,
    GATEWAY_HTTP_PORT,
    GATEWAY_METRICS_PORT,
    NATS_MONITOR_PORT,
    NATS_PORT,
    SANDBOX_HTTP_PORT,
    SERVICE_PORTS,
)

BIN = Path(sys.executable).parent
SHOP_DEV = BIN / "shop-dev"
PREFERRED_OFFSET = 3000
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
EXPECTED_ROWS = {*SERVICE_PORTS, "sandbox", "gateway"}


@dataclass(frozen=True)
class Stack:
    gateway_url: str
    sandbox_url: str
    data_dir: Path
    output: Path


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _offset_is_free(offset: int) -> bool:
    base_ports = [NATS_PORT, NATS_MONITOR_PORT] + [p for pair in SERVICE_PORTS.values() for p in pair]
    base_ports += [SANDBOX_HTTP_PORT, GATEWAY_HTTP_PORT, GATEWAY_GRPC_PORT, GATEWAY_METRICS_PORT]
    return all(_free(port + offset) for port in base_ports)


def pick_port_offset() -> int:
    """3000 when its ports are free, else (e.g. a stack left running there) a free range as the launcher test picks."""
    if _offset_is_free(PREFERRED_OFFSET):
        return PREFERRED_OFFSET
    for _ in range(50):
        offset = random.randrange(10950, 15470, 10)
        if _offset_is_free(offset):
            return offset
    raise RuntimeError("no free port range found")


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((data_dir / "run" / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def _everything_serving(data_dir: Path) -> bool:
    state = read_state(data_dir)
    rows = {row["name"]: row for row in state.get("rows", [])}
    return state.get("phase") == "running" and all(
        name in rows and rows[name]["health"] == "SERVING" for name in EXPECTED_ROWS
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert SHOP_DEV.exists(), f"{SHOP_DEV} is missing: run `make install`"
    root = tmp_path_factory.mktemp("system")
    data_dir, output = root / "data", root / "launcher.out"
    offset = pick_port_offset()
    with output.open("wb") as out:
        launcher = subprocess.Popen(
            [str(SHOP_DEV), "run", "--data-dir", str(data_dir), "--port-offset", str(offset)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _everything_serving(data_dir):
            if launcher.poll() is not None:
                pytest.fail(f"shop-dev run exited ({launcher.returncode}) during start:\n{output.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the stack was not SERVING after {START_TIMEOUT} s:\n{output.read_text()[-5000:]}")
            time.sleep(0.3)
        yield Stack(
            gateway_url=f"http://127.0.0.1:{GATEWAY_HTTP_PORT + offset}",
            sandbox_url=f"http://127.0.0.1:{SANDBOX_HTTP_PORT + offset}",
            data_dir=data_dir,
            output=output,
        )
        assert launcher.poll() is None, f"shop-dev run died during the tests:\n{output.read_text()[-5000:]}"
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(STOP_TIMEOUT) == 0, output.read_text()[-5000:]
        assert read_state(data_dir).get("phase") == "stopped"
    finally:
        # Whatever happened, leave nothing running (the launcher stops its children on SIGINT).
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


class Shopper:
    """A signed-in customer talking to the gateway (and tokenising cards at the sandbox, as a browser would)."""

    def __init__(self, client: httpx.Client, stack: Stack, username: str) -> None:
        self.client = client
        self.stack = stack
        self.username = username
        issued = client.post(f"{stack.gateway_url}/v1/auth/token", json={"username": username, "role": "customer"})
        assert issued.status_code == 200, issued.text
        self.headers = {"authorization": f"Bearer {issued.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(f"{self.stack.gateway_url}{path}", params=params, headers=self.headers)

    def add_to_cart(self, sku: str, quantity: int = 1) -> dict[str, Any]:
        response = self.client.post(
            f"{self.stack.gateway_url}/v1/cart/items", json={"sku": sku, "quantity": quantity}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        cart: dict[str, Any] = response.json()
        return cart

    def card(self, number: str) -> str:
        year = time.gmtime().tm_year + 2
        card = {"number": number, "exp_month": 12, "exp_year": year, "cvc": "123"}
        response = self.client.post(f"{self.stack.sandbox_url}/v1/payment_methods", json={"card": card})
        assert response.status_code == 201, response.text
        method_id: str = response.json()["id"]
        return method_id

    def checkout_request(self, payment_method: str, key: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        """URL, body and headers of a `POST /v1/checkout` (so tests can send it from several threads)."""
        body = {
            "payment_method": payment_method,
            "shipping_address": ADDRESS,
            "fulfillment": {"method": "ship"},
        }
        return f"{self.stack.gateway_url}/v1/checkout", body, {**self.headers, "Idempotency-Key": key}

    def checkout(self, payment_method: str, key: str | None = None) -> httpx.Response:
        url, body, headers = self.checkout_request(payment_method, key or f"system-{uuid.uuid4().hex}")
        return self.client.post(url, json=body, headers=headers)


ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


@pytest.fixture
def new_shopper(stack: Stack, http: httpx.Client) -> Callable[[str], Shopper]:
    """A factory of fresh customers: every test gets its own carts and orders."""

    def make(label: str) -> Shopper:
        return Shopper(http, stack, f"system-{label}-{uuid.uuid4().hex[:10]}")

    return make


@pytest.fixture(scope="session")
def trail_product(stack: Stack, http: httpx.Client) -> dict[str, Any]:
    """The first product the search `trail` finds, as its product page shows it (variants with availability)."""
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json={"username": "system-browser", "role": "customer"})
    headers = {"authorization": f"Bearer {issued.json()['access_token']}"}
    found = http.get(f"{stack.gateway_url}/v1/products", params={"query": "trail", "page_size": 1}, headers=headers)
    assert found.status_code == 200, found.text
    products = found.json()["products"]
    assert len(products) == 1, found.text
    page = http.get(f"{stack.gateway_url}/v1/products/{products[0]['id']}", headers=headers)
    assert page.status_code == 200, page.text
    product: dict[str, Any] = page.json()
    assert len(product["variants"]) >= 1
    return product
