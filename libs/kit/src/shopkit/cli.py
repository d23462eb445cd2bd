"""The command line every service shares: `shop-<service> serve | migrate | settings`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from shopkit.logs import setup_logging
from shopkit.migrate import upgrade
from shopkit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def describe_settings(settings_cls: type[ServiceSettings], hidden: Collection[str] = ()) -> str:
    """The environment variables of `settings_cls`, less the `hidden` fields the process does not read."""
    lines = ["VARIABLE | DEFAULT | DESCRIPTION"]
    for name, info in settings_cls.model_fields.items():
        if name in hidden:
            continue
        env = (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
        lines.append(f"{env} | {info.get_default(call_default_factory=True)!r} | {info.description or ''}")
    return "\n".join(lines)


def service_cli(
    name: str,
    settings_cls: type[S],
    serve: Callable[[S], Coroutine[Any, Any, None]],
    migrations_dir: Path | None,
    *,
    serve_help: str = "run the gRPC server, its outbox relay and event consumers",
    hidden_settings: Collection[str] = (),
) -> Callable[[list[str] | None], None]:
    """`main` of a service's console script. Without `migrations_dir` (no database) there is no `migrate`;
    `hidden_settings` are fields of the shared settings that this process does not read (e.g. the gRPC port
    of an HTTP-only service)."""

    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"shop-{name}", description=f"The shop {name} service.")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("serve", help=serve_help)
        if migrations_dir is not None:
            sub.add_parser("migrate", help="apply database migrations, then exit")
        sub.add_parser("settings", help="list the environment variables this service reads")
        args = parser.parse_args(argv)
        if args.command == "settings":
            print(describe_settings(settings_cls, hidden_settings))
            return
        settings = settings_cls()
        if args.command == "migrate" and migrations_dir is not None:
            setup_logging(f"{name}-migrate", settings.log_level, settings.log_format)
            upgrade(migrations_dir, settings.database_url)
            return
        uvloop.run(serve(settings))
        sys.exit(0)

    return main
