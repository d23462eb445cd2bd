"""Smoke test of the load scenarios: a few users of every class for ~15 s against a fresh stack.

Starts `shop-dev run --data-dir <tmp> --port-offset 5000` (another free offset when those ports are
taken, e.g. by a test running at the same time), runs locust headless with `--csv`, and fails on any
failed request. The flash sale offers 3 units, so that it sells out within the run; its
end-of-test check (no oversell) must pass. The start/wait/stop handling follows
libs/devstack/tests/test_devstack_launcher.py.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shop_devstack.demo_size import TEST_DEMO_PRODUCTS
from shop_devstack.harness import Stack, launched

pytestmark = pytest.mark.timeout(240)

BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"
START_TIMEOUT = 90.0
# Long enough for the longest visit (the Returner: buy, ship, return, receive, inspect, refund) on a busy
# 2-core machine, where a checkout can take a second.
RUN_TIME = "30s"
USERS = 18  # enough for at least one user of each of the nine classes


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A running stack for this test; stopped (and checked to stop cleanly) afterwards."""
    with launched(
        tmp_path, preferred_offset=12500, start_timeout=START_TIMEOUT, demo_products=TEST_DEMO_PRODUCTS
    ) as running:
        yield running


def test_every_scenario_runs_without_failures(stack: Stack, tmp_path: Path) -> None:
    environment = dict(
        os.environ,
        SHOP_GATEWAY_URL=stack.gateway_url,
        SHOP_SANDBOX_URL=stack.sandbox_url,  # https: the public face, checked against the stack's CA alone
        SHOP_SANDBOX_CA_FILE=str(stack.ca_file),
        SHOP_GATEWAY_GRPC=stack.gateway_grpc,
        SHOP_FLASH_SALE_UNITS="3",
    )
    prefix = tmp_path / "load"
    run = subprocess.run(
        [
            *(str(BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--exit-code-on-error", "1"),
            *("-u", str(USERS), "-r", str(USERS), "-t", RUN_TIME, "--csv", str(prefix)),
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
    )
    print(run.stderr[-6000:])
    with (tmp_path / "load_stats.csv").open() as stats_file:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(stats_file)}
    failed = {name: row["Failure Count"] for name, row in stats.items() if row["Failure Count"] != "0"}
    assert not failed, f"failed requests {failed}:\n{run.stderr[-6000:]}"
    assert run.returncode == 0, run.stderr[-6000:]
    names = {name for _, name in stats}
    # Browser, Shopper/FlashSale (checkout), FlashSale, the gRPC user, InternationalShopper (shipping
    # options), GuestShopper (a guest cart), Returner (a return inspected in a store) and AccountHolder (its
    # saved address) all made requests.
    for expected in (
        "/v1/products?query",
        "/v1/checkout",
        "flash /v1/cart/items",
        "StorefrontService/ListProducts",
        "/v1/cart/shipping-options",
        "/v1/guest-carts",
        "/v1/returns/{id}/inspect",
        "/v1/me/addresses",
    ):
        assert expected in names, f"no {expected!r} requests: {sorted(names)}"
    assert int(stats[("", "Aggregated")]["Request Count"]) > 50
    # The Returner's purchase came back: returned in a store, inspected, and refunded to the card.
    assert int(stats[("EXPECTED", "return refunded")]["Request Count"]) >= 1, sorted(stats)
    verdict = [line for line in run.stderr.splitlines() if "flash sale:" in line and "->" in line]
    assert verdict and verdict[-1].endswith("-> no oversell"), run.stderr[-6000:]
