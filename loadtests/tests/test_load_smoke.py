"""Smoke test of the load scenarios: a few users of every class for ~15 s against a fresh stack.

Starts `shop-dev run --data-dir <tmp> --port-offset 5000` (another free offset when those ports are
taken, e.g. by a test running at the same time), runs locust headless with `--csv`, and fails on any
failed request. The start/wait/stop handling follows libs/devstack/tests/test_devstack_launcher.py.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

pytestmark = pytest.mark.timeout(180)

BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"
START_TIMEOUT = 90.0
RUN_TIME = "15s"
USERS = 12  # enough for at least one user of each of the five classes


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def port_offset() -> int:
    """5000 when all its ports are free, else a free offset outside the ephemeral port range."""
    base_ports = [NATS_PORT, NATS_MONITOR_PORT] + [p for pair in SERVICE_PORTS.values() for p in pair]
    base_ports += [SANDBOX_HTTP_PORT, GATEWAY_HTTP_PORT, GATEWAY_GRPC_PORT, GATEWAY_METRICS_PORT]
    for offset in [5000] + [random.randrange(10950, 15470, 10) for _ in range(50)]:
        if all(_free(port + offset) for port in base_ports):
            return offset
    raise RuntimeError("no free port range found")


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((data_dir / "run" / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def gateway_ready(data_dir: Path) -> bool:
    state = read_state(data_dir)
    rows = {row["name"]: row for row in state.get("rows", [])}
    return state.get("phase") == "running" and rows.get("gateway", {}).get("health") == "SERVING"


def processes_using(data_dir: Path) -> set[int]:
    """Processes whose command line names the data folder (postgres -D, nats-server -sd)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(data_dir).encode() in command:
                found.add(int(entry.name))
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[int]:
    """A running stack; yields its port offset and stops everything afterwards."""
    data_dir = tmp_path / "data"
    output = tmp_path / "launcher.out"
    offset = port_offset()
    with output.open("wb") as out:
        launcher = subprocess.Popen(
            [str(BIN / "shop-dev"), "run", "--data-dir", str(data_dir), "--port-offset", str(offset)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not gateway_ready(data_dir):
            if launcher.poll() is not None:
                pytest.fail(f"shop-dev run exited ({launcher.returncode}):\n{output.read_text()[-5000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for the stack:\n{output.read_text()[-5000:]}")
            time.sleep(0.3)
        yield offset
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(60)
            except subprocess.TimeoutExpired:
                launcher.kill()
        started = {row["pid"] for row in read_state(data_dir).get("rows", []) if row.get("pid")}
        for pid in processes_using(data_dir) | started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_every_scenario_runs_without_failures(stack: int, tmp_path: Path) -> None:
    offset = stack
    environment = dict(
        os.environ,
        SHOP_GATEWAY_URL=f"http://127.0.0.1:{GATEWAY_HTTP_PORT + offset}",
        SHOP_SANDBOX_URL=f"http://127.0.0.1:{SANDBOX_HTTP_PORT + offset}",
        SHOP_GATEWAY_GRPC=f"127.0.0.1:{GATEWAY_GRPC_PORT + offset}",
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
    # Browser, Shopper/FlashSale (checkout), FlashSale and the gRPC user all made requests.
    for expected in ("/v1/products?query", "/v1/checkout", "flash /v1/cart/items", "StorefrontService/ListProducts"):
        assert expected in names, f"no {expected!r} requests: {sorted(names)}"
    assert int(stats[("", "Aggregated")]["Request Count"]) > 50
