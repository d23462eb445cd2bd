"""The launcher's row of the embedded PostgreSQL says SERVING only once the server accepts connections:
after a crash (a SIGKILL of the postmaster) the restarted server has a pid during its whole recovery, and
postmaster.pid says `starting` until it is `ready`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from shop_devstack.components import PostgresDaemon
from shop_devstack.health import SERVING, UNREACHABLE
from shop_devstack.postgres import EmbeddedPostgres


def write_postmaster_pid(pgdata: Path, pid: int, status: str | None) -> None:
    """postmaster.pid as PostgreSQL writes it: pid, data folder, start time, port, socket folder, listen
    address, shared memory key, then (from PostgreSQL 10 on) the server's status."""
    lines = [str(pid), str(pgdata), "1796530520", "5432", str(pgdata), "", "  2155741    786479"]
    if status is not None:
        lines.append(status.ljust(8))
    pgdata.mkdir(parents=True, exist_ok=True)
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("pid", "status", "health"),
    [
        (os.getpid(), "starting", UNREACHABLE),  # crash recovery: up, not yet accepting connections
        (os.getpid(), "ready", SERVING),
        (os.getpid(), None, SERVING),  # a file without the status line: the pid is all there is
        (2**22 + 12345, "ready", UNREACHABLE),  # the file of a server that died
    ],
)
def test_postgres_is_serving_once_postmaster_pid_says_ready(
    tmp_path: Path, pid: int, status: str | None, health: str
) -> None:
    pgdata = tmp_path / "pg"
    write_postmaster_pid(pgdata, pid, status)
    daemon = PostgresDaemon(EmbeddedPostgres(pgdata), tmp_path / "postgres.log")

    assert asyncio.run(daemon.probe()) == health
