"""The command line every service shares: `shop-<service> serve | migrate | settings`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from shopkit.logs import setup_logging
from shopkit.migrate import upgrade
from shopkit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def describe_settings(settings_cls: type[ServiceSettings]) -> str:
    lines = ["VARIABLE | DEFAULT | DESCRIPTION"]
    for name, info in settings_cls.model_fields.items():
        env = (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
        lines.append(f"{env} | {info.get_default(call_default_factory=True)!r} | {info.description or ''}")
    return "\n".join(lines)


def service_cli(
    name: str,
    settings_cls: type[S],
    serve: Callable[[S], Coroutine[Any, Any, None]],
    migrations_dir: Path,
) -> Callable[[list[str] | None], None]:
    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"shop-{name}", description=f"The shop {name} service.")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("serve", help="run the gRPC server, its outbox relay and event consumers")
        sub.add_parser("migrate", help="apply database migrations, then exit")
        sub.add_parser("settings", help="list the environment variables this service reads")
        args = parser.parse_args(argv)
        if args.command == "settings":
            print(describe_settings(settings_cls))
            return
        settings = settings_cls()
        if args.command == "migrate":
            setup_logging(f"{name}-migrate", settings.log_level, settings.log_format)
            upgrade(migrations_dir, settings.database_url)
            return
        uvloop.run(serve(settings))
        sys.exit(0)

    return main
