"""System test of `shop-dev run`: the real launcher as a subprocess, on its own data folder and ports.

It starts the embedded PostgreSQL, NATS and every installed service, checks health, reflection and
the seeded demo data, kills one service with SIGKILL and waits for the supervisor to restart it,
then sends SIGINT and asserts that no process the launcher started is left.

Skipped only when SHOP_SKIP_LAUNCHER_TEST=1 is set (an explicit choice, e.g. on a machine without
the embedded servers); a missing binary or a failed start is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop_devstack.layout import NATS_MONITOR_PORT, NATS_PORT, SERVICE_PORTS

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(240),
]

START_TIMEOUT = 100.0
SHOP_DEV = Path(sys.executable).parent / "shop-dev"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def pick_port_offset() -> int:
    """An offset whose every port is free, away from a `make run` on the default ports.

    Offsets from 10950 to 15470 put every port outside Linux's ephemeral range (32768-60999), so
    no outgoing connection of another process can hold one of them by chance.
    """
    base_ports = [NATS_PORT, NATS_MONITOR_PORT] + [p for pair in SERVICE_PORTS.values() for p in pair]
    for _ in range(50):
        offset = random.randrange(10950, 15470, 10)
        if all(_free(port + offset) for port in base_ports):
            return offset
    raise RuntimeError("no free port range found")


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, launcher: subprocess.Popen[bytes], output: Path
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if launcher.poll() is not None:
            pytest.fail(f"shop-dev run exited ({launcher.returncode}) while waiting for {what}:\n{output.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{output.read_text()[-5000:]}")


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((data_dir / "run" / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def rows(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in state.get("rows", [])}


def alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped by init) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), command)
    return table


def descendants(roots: set[int]) -> set[int]:
    table = process_table()
    found = {pid for pid in roots if pid in table}
    changed = True
    while changed:
        changed = False
        for pid, (parent, _) in table.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def processes_using(data_dir: Path) -> set[int]:
    """Processes whose command line names the data folder (postgres -D, nats-server -sd)."""
    return {pid for pid, (_, command) in process_table().items() if str(data_dir) in command}


def health(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return "unreachable"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def reflected_services(target: str) -> set[str]:
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        return {service.name for response in responses for service in response.list_services_response.service}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int, Path]]:
    assert SHOP_DEV.exists(), f"{SHOP_DEV} is missing: run `make install`"
    data_dir = tmp_path / "data"
    output = tmp_path / "launcher.out"
    offset = pick_port_offset()
    with output.open("wb") as out:
        launcher = subprocess.Popen(
            [str(SHOP_DEV), "run", "--data-dir", str(data_dir), "--port-offset", str(offset)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield launcher, data_dir, offset, output
    finally:
        # Whatever happened, leave nothing running.
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(60)
            except subprocess.TimeoutExpired:
                launcher.kill()
        for pid in processes_using(data_dir) | {
            row["pid"] for row in rows(read_state(data_dir)).values() if row.get("pid")
        }:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_launcher_starts_seeds_restarts_and_stops_cleanly(
    stack: tuple[subprocess.Popen[bytes], Path, int, Path],
) -> None:
    launcher, data_dir, offset, output = stack

    # 1. Everything installed reaches SERVING and the launcher reports "running".
    state = wait_for(
        lambda: (s := read_state(data_dir)).get("phase") == "running" and s,
        START_TIMEOUT,
        "the stack to run",
        launcher,
        output,
    )
    services = {name: row for name, row in rows(state).items() if row["kind"] == "service" and row["pid"]}
    assert "catalog" in services, f"catalog did not start:\n{output.read_text()}"
    for name, (grpc_port, _) in SERVICE_PORTS.items():
        if name in services:
            assert services[name]["health"] == "SERVING"
            assert health(f"127.0.0.1:{grpc_port + offset}") == "SERVING", name
        else:
            assert rows(state)[name]["health"] == "not built yet", name
    assert rows(state)["postgres"]["pid"] and rows(state)["nats"]["pid"]

    # 2. Reflection lists each service's API.
    for name in services:
        full_name = f"shop.{name}.v1.{name.capitalize()}Service"
        assert full_name in reflected_services(f"127.0.0.1:{SERVICE_PORTS[name][0] + offset}"), name

    # 3. The demo data is there (read through the public API).
    catalog_target = f"127.0.0.1:{SERVICE_PORTS['catalog'][0] + offset}"
    with grpc.insecure_channel(catalog_target) as channel:
        listed = catalog_pb2_grpc.CatalogServiceStub(channel).ListProducts(
            catalog_pb2.ListProductsRequest(page=common_pb2.PageRequest(page_size=5)), timeout=10
        )
    assert len(listed.products) == 5 and listed.page.next_page_token
    assert (data_dir / "seeded" / "catalog.json").exists()
    if "inventory" in services:
        from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{SERVICE_PORTS['inventory'][0] + offset}") as channel:
            locations = (
                inventory_pb2_grpc.InventoryServiceStub(channel)
                .ListLocations(
                    inventory_pb2.ListLocationsRequest(page=common_pb2.PageRequest(page_size=100)),
                    metadata=(("x-shop-role", "admin"),),
                    timeout=10,
                )
                .locations
            )
        types = [loc.type for loc in locations]
        assert types.count(inventory_pb2.LOCATION_TYPE_WAREHOUSE) >= 3
        assert types.count(inventory_pb2.LOCATION_TYPE_STORE) >= 5

    # 4. A service killed with SIGKILL is restarted by the supervisor and serves again.
    victim = services["catalog"]["pid"]
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        row = rows(read_state(data_dir))["catalog"]
        return bool(row["restarts"] >= 1 and row["pid"] and row["pid"] != victim and row["health"] == "SERVING")

    wait_for(restarted, 60, "catalog to be restarted", launcher, output)
    assert health(catalog_target) == "SERVING"

    # 5. SIGINT stops every process the launcher started, PostgreSQL and NATS included.
    state = read_state(data_dir)
    started = {row["pid"] for row in rows(state).values() if row["pid"]}
    started |= descendants({launcher.pid}) | descendants(started) | processes_using(data_dir)
    started.discard(launcher.pid)
    assert len(started) >= 2 + len(services)
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(60) == 0, output.read_text()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in started):
        time.sleep(0.1)
    left = {pid: process_table().get(pid) for pid in started if alive(pid)}
    assert not left, f"processes left behind: {left}"
    assert not processes_using(data_dir)
    assert read_state(data_dir)["phase"] == "stopped"
    assert "stopped" in output.read_text()
