"""The local stack's NATS users (shop_devstack.natsconfig) and `shop-dev nats-auth`: passwords kept
once per data folder, the server's configuration written from shopkit.natsauth, each service given
its own user, the cluster's auth.conf being the command's output."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from shop_devstack import natsconfig
from shop_devstack.environment import service_environment
from shop_devstack.layout import Layout, ServiceSpec
from shopkit import events, natsauth
from shopkit.testing import free_port, nats_server_binary, wait_for_port

REPO = Path(__file__).resolve().parents[3]
SHOP_DEV = Path(sys.executable).parent / "shop-dev"


def test_passwords_are_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "nats" / natsconfig.USERS_NAME
    first = natsconfig.load_passwords(path)
    assert set(first) == set(natsauth.USERS)
    assert len(set(first.values())) == len(first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert natsconfig.load_passwords(path) == first


def test_each_service_gets_its_own_user_and_the_others_the_plain_url(tmp_path: Path) -> None:
    passwords = natsconfig.load_passwords(tmp_path / natsconfig.USERS_NAME)
    base = "nats://127.0.0.1:4222"
    for service in natsauth.SERVICES:
        spec = ServiceSpec(service, 50051, 9101, None)
        url = natsconfig.service_url(base, service, passwords)
        env = service_environment(spec, database_url=None, nats_url=url, port_offset=0, environ={})
        assert env["NATS_URL"] == f"nats://{service}:{passwords[service]}@127.0.0.1:4222"
    for edge in ("gateway", "sandbox"):
        assert natsconfig.service_url(base, edge, passwords) == base
    # An external server (SHOP_NATS_URL): the URL as the developer gave it.
    assert natsconfig.service_url("nats://dev:pw@nats.example:4222", "cart", None) == "nats://dev:pw@nats.example:4222"


def test_the_written_configuration_runs_a_server_that_knows_every_user(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data", port_offset=free_port() - 4222)
    passwords = natsconfig.load_passwords(natsconfig.users_file(layout))
    config = natsconfig.write_config(layout, passwords)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert str(layout.nats_dir) in config.read_text()
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(layout.nats_port)

        async def publish_as_inventory_and_read_as_tooling() -> int:
            url = natsconfig.service_url(f"nats://127.0.0.1:{layout.nats_port}", "inventory", passwords)
            inventory = await events.connect(url, "inventory")
            await events.ensure_stream(inventory.jetstream(), events.stream_config("inventory"))
            await inventory.jetstream().publish("shop.inventory.stock_level_changed", b"x")
            await inventory.close()
            tooling = await events.connect(natsconfig.tooling_url(layout.data_dir, layout.port_offset), "tooling")
            info = await tooling.jetstream().stream_info(events.stream_name("inventory"))
            await tooling.close()
            return int(info.state.messages)

        assert asyncio.run(publish_as_inventory_and_read_as_tooling()) == 1
    finally:
        process.terminate()
        process.wait(10)


def test_the_cluster_configuration_is_the_commands_output() -> None:
    printed = subprocess.run([str(SHOP_DEV), "nats-auth", "config"], check=True, capture_output=True, text=True)
    assert printed.stdout == natsauth.authorization()
    assert (REPO / "k8s/base/nats/auth.conf").read_text() == printed.stdout, (
        "k8s/base/nats/auth.conf is stale: `shop-dev nats-auth config > k8s/base/nats/auth.conf`"
    )
    assert "include auth.conf" in (REPO / "k8s/base/nats/nats.conf").read_text()
    production = yaml.safe_load((REPO / "k8s/overlays/production/nats-values.yaml").read_text())
    assert production["config"]["merge"]["00$include"] == "auth.conf"
    assert {"prefix": "NATS_PASSWORD_", "secretRef": {"name": natsconfig.SERVER_SECRET}} in production["container"][
        "merge"
    ]["envFrom"]


def test_the_secrets_command_gives_both_namespaces_the_same_passwords() -> None:
    printed = subprocess.run(
        [str(SHOP_DEV), "nats-auth", "secrets", "--shop-namespace", "shop-staging"],
        check=True,
        capture_output=True,
        text=True,
    )
    server, chart = yaml.safe_load_all(printed.stdout)
    assert (server["metadata"], chart["metadata"]) == (
        {"name": natsconfig.SERVER_SECRET, "namespace": "nats"},
        {"name": natsconfig.CHART_SECRET, "namespace": "shop-staging"},
    )
    assert set(server["stringData"]) == set(natsauth.USERS)
    assert chart["stringData"] == {s: server["stringData"][s] for s in natsauth.SERVICES}  # no tooling password
    again = next(
        yaml.safe_load_all(
            subprocess.run([str(SHOP_DEV), "nats-auth", "secrets"], check=True, capture_output=True, text=True).stdout
        )
    )
    assert again["stringData"]["order"] != server["stringData"]["order"]  # fresh every time
