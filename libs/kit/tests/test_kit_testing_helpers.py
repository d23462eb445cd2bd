"""The helpers of shopkit.testing that tests use to start their peers."""

from __future__ import annotations

import functools
from pathlib import Path

import shopkit
from shopkit import migrate
from shopkit.testing import migrations_of, service_settings


def test_migrations_are_found_next_to_the_package_or_its_build_function() -> None:
    kit = Path(str(shopkit.__file__)).parent
    assert migrations_of(shopkit) == kit / "migrations"
    assert migrations_of(migrate.upgrade) == kit / "migrations"
    assert migrations_of(functools.partial(migrate.upgrade, revision="head")) == kit / "migrations"


def test_service_settings_are_quiet_local_and_overridable() -> None:
    values = service_settings("postgresql+asyncpg://db", "nats://n", grpc_port=5, sweeper_enabled=False)
    assert values["database_url"] == "postgresql+asyncpg://db" and values["nats_url"] == "nats://n"
    assert (values["grpc_host"], values["grpc_port"], values["metrics_port"]) == ("127.0.0.1", 5, 0)
    assert values["sweeper_enabled"] is False and values["log_level"] == "WARNING"
