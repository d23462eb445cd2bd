"""`shop-dev status`, `shop-dev seed` and `shop-dev psql`: tools that work on a running stack."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from shop_devstack import identities, seed
from shop_devstack.components import NOT_BUILT, probe_once
from shop_devstack.demo_size import DEMO_PRODUCTS
from shop_devstack.environment import NATS_URL_VAR, POSTGRES_URL_VAR
from shop_devstack.health import SERVING, UNREACHABLE, check_once, tcp_open
from shop_devstack.layout import LOCAL_HOST, Layout
from shop_devstack.postgres import embedded_psql, libpq_url, load_passwords, service_url
from shop_devstack.state import Row, State, render_table


async def show_status(layout: Layout) -> int:
    """Probe every fixed port (gRPC health; HTTP /readyz for the sandbox and the gateway); pids and
    restarts come from the launcher's state file. 0 when all serve."""
    state = State.read(layout.state_file)
    known = {row.name: row for row in state.rows} if state is not None and state.launcher_running() else {}
    # A stack started with --payments stripe runs the fake Stripe where the sandbox would be.
    specs = layout.services("stripe" if "stripe" in known else "sandbox")
    installed = [s for s in specs if s.installed]
    tls = identities.tooling(layout.data_dir)
    healths = await asyncio.gather(*(probe_once(s, tls) for s in installed))
    by_name = dict(zip([s.name for s in installed], healths, strict=True))
    rows: list[Row] = []
    for name in ("postgres", "nats"):
        if name in known:
            rows.append(known[name])
    if "nats" not in known and not os.environ.get(NATS_URL_VAR):
        up = await tcp_open(LOCAL_HOST, layout.nats_port)
        rows.append(
            Row("nats", "infra", f"nats://{LOCAL_HOST}:{layout.nats_port}", SERVING if up else UNREACHABLE, None, None)
        )
    for spec in specs:
        previous = known.get(spec.name)
        health = by_name.get(spec.name, NOT_BUILT)
        rows.append(
            Row(
                spec.name,
                spec.kind,
                spec.address,
                health,
                previous.pid if previous else None,
                previous.restarts if previous else None,
            )
        )
    print(render_table(rows))
    if state is not None and state.launcher_running():
        print(f"\nlauncher pid {state.launcher_pid}, {state.phase}; logs in {layout.logs_dir}")
    else:
        print(f"\nno `shop-dev run` is running on {layout.data_dir}")
    return 0 if installed and all(h == SERVING for h in healths) else 1


async def seed_running(layout: Layout, only: list[str] | None, count: int = DEMO_PRODUCTS) -> int:
    specs = [s for s in layout.services() if s.installed and s.kind == "service" and (only is None or s.name in only)]
    tls = identities.tooling(layout.data_dir)
    healths = await asyncio.gather(*(check_once(s.target, tls=tls) for s in specs))
    down = [s.name for s, h in zip(specs, healths, strict=True) if h != SERVING]
    if down:
        print(f"not SERVING: {', '.join(down)}; start the stack with `shop-dev run` first", file=sys.stderr)
        return 1

    def say(message: str) -> None:
        print(message, flush=True)

    targets = {s.name: s.target for s in specs}
    await seed.seed_demo(targets, layout.seeded_dir, force=True, say=say, tls=tls, count=count)
    if not os.environ.get(NATS_URL_VAR):
        await seed.wait_for_consumers(f"http://{LOCAL_HOST}:{layout.nats_monitor_port}", say)
    return 0


def _socket_dir(pgdata: Path) -> str:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError as exc:
        raise SystemExit(f"the embedded PostgreSQL in {pgdata} is not running (start `shop-dev run`)") from exc
    return lines[4].strip() if len(lines) > 4 and lines[4].strip() else str(pgdata)


def psql_command(layout: Layout, service: str, extra: list[str]) -> list[str]:
    """psql connected as the service's own role to its own database."""
    if not any(s.name == service and s.database for s in layout.services()):
        raise SystemExit(f"shop-dev: {service} has no database")
    external = os.environ.get(POSTGRES_URL_VAR)
    if external:
        password = load_passwords(layout.secrets_file, [service])[service]
        url = libpq_url(service_url(external, service, password))
    else:
        url = f"postgresql://{service}@/{service}?host={_socket_dir(layout.pg_dir)}"
    return [str(embedded_psql()), url, *extra]
