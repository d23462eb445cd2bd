"""NATS users of the local stack, and `shop-dev nats-auth`, which prints them for a cluster.

`shop-dev run` starts the embedded nats-server with `<data>/nats/server.conf`, written at every start
from `shopkit.natsauth`: JetStream in `<data>/nats`, the ports of this stack, and one user per
service whose permissions are its own subjects, streams and durable consumers, plus `tooling`
(no limits: operators, the system tests). The passwords are generated once and kept in
`<data>/nats/users.json` (mode 0600); each service gets its own in the userinfo of its NATS_URL.
With an external server (SHOP_NATS_URL) the launcher writes nothing and passes the URL as it is:
give that server the block of `shop-dev nats-auth config` and each service its URL with
SHOP_<SVC>_NATS_URL, or run it without users.

    shop-dev nats-auth config    the server's `authorization` block (passwords read from
                                 $NATS_PASSWORD_<user>): k8s/base/nats/auth.conf is this output
    shop-dev nats-auth secrets   Secrets with fresh passwords: one in the NATS namespace for the
                                 server (every user), one in the shop namespace for the chart
                                 (`nats.auth.secretName`, one key per service)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shop_devstack.layout import LOCAL_HOST, Layout
from shopkit import natsauth

CONFIG_NAME = "server.conf"
USERS_NAME = "users.json"
# The chart's default `nats.auth.secretName` (values.yaml) and the NATS namespace's Secret (k8s/base/nats).
CHART_SECRET = "shop-nats-users"
SERVER_SECRET = "nats-users"


def users_file(layout: Layout) -> Path:
    return layout.nats_dir / USERS_NAME


def config_file(layout: Layout) -> Path:
    return layout.nats_dir / CONFIG_NAME


def load_passwords(path: Path) -> dict[str, str]:
    """A password per NATS user, generated once and kept in a 0600 file."""
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [user for user in natsauth.USERS if user not in stored]
    if missing:
        stored.update({user: natsauth.new_password() for user in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored, indent=2))
    return {user: stored[user] for user in natsauth.USERS}


def write_config(layout: Layout, passwords: Mapping[str, str]) -> Path:
    """The embedded server's configuration for this stack (its ports, its store), 0600: it holds the passwords."""
    path = config_file(layout)
    layout.nats_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(
        "# Written by `shop-dev run` at every start (shop_devstack.natsconfig); edits are lost.\n"
        + natsauth.server_config(
            host=LOCAL_HOST,
            port=layout.nats_port,
            monitor_port=layout.nats_monitor_port,
            store_dir=str(layout.nats_dir),
            passwords=passwords,
        )
    )
    return path


def service_url(url: str, process: str, passwords: Mapping[str, str] | None) -> str:
    """The NATS_URL of a process: with its own user's credentials when the stack has users and the
    process connects to NATS (the gateway and the sandbox don't)."""
    if passwords is None or process not in natsauth.SERVICES:
        return url
    return natsauth.with_credentials(url, process, passwords[process])


def tooling_url(data_dir: Path, port_offset: int = 0) -> str:
    """The URL an operator's tool or a system test connects to a running local stack with (no limits)."""
    layout = Layout(data_dir, port_offset)
    passwords = json.loads(users_file(layout).read_text())
    return natsauth.with_credentials(
        f"nats://{LOCAL_HOST}:{layout.nats_port}", natsauth.TOOLING, passwords[natsauth.TOOLING]
    )


# ------------------------------------------------------------------------------------- shop-dev nats-auth


def secret_manifests(nats_namespace: str, shop_namespace: str, chart_secret: str = CHART_SECRET) -> str:
    """Two Secrets with the same fresh password per user: the server's (every user) and the chart's
    (the services only: the tooling password stays with the operators)."""
    passwords = {user: natsauth.new_password() for user in natsauth.USERS}

    def manifest(name: str, namespace: str, users: tuple[str, ...]) -> str:
        data = "".join(f"  {user}: {json.dumps(passwords[user])}\n" for user in users)
        return (
            f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"type: Opaque\nstringData:\n{data}"
        )

    return (
        manifest(SERVER_SECRET, nats_namespace, natsauth.USERS)
        + "---\n"
        + manifest(chart_secret, shop_namespace, natsauth.SERVICES)
    )


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "nats-auth", help="the NATS users and permissions of the services, for a NATS server you run yourself"
    )
    what = parser.add_subparsers(dest="nats_auth", required=True)
    what.add_parser("config", help="the server's authorization block (passwords from $NATS_PASSWORD_<user>)")
    made = what.add_parser("secrets", help="Secret manifests with fresh passwords, for the server and the chart")
    made.add_argument("--nats-namespace", default="nats", help="where the NATS servers run (default nats)")
    made.add_argument("--shop-namespace", default="shop", help="where the chart is installed (default shop)")
    made.add_argument(
        "--chart-secret", default=CHART_SECRET, help=f"the chart's nats.auth.secretName (default {CHART_SECRET})"
    )


def run(args: argparse.Namespace) -> int:
    if args.nats_auth == "config":
        print(natsauth.authorization(), end="")
    else:
        print(secret_manifests(args.nats_namespace, args.shop_namespace, args.chart_secret), end="")
    return 0
