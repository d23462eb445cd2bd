"""`shop-sandbox serve | migrate | settings`: the services' command line for an HTTP service.

The same shape as `shopkit.cli.service_cli` (which says "gRPC server" in its help and lists the
gRPC/NATS settings the sandbox does not read).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from shop_sandbox.settings import NOT_APPLICABLE, SandboxSettings
from shopkit.logs import setup_logging
from shopkit.migrate import upgrade


def describe_settings(settings_cls: type[SandboxSettings]) -> str:
    lines = ["VARIABLE | DEFAULT | DESCRIPTION"]
    for name, info in settings_cls.model_fields.items():
        if name in NOT_APPLICABLE:
            continue
        env = (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
        lines.append(f"{env} | {info.default!r} | {info.description or ''}")
    return "\n".join(lines)


def http_service_cli(
    name: str,
    settings_cls: type[SandboxSettings],
    serve: Callable[[SandboxSettings], Coroutine[Any, Any, None]],
    migrations_dir: Path,
) -> Callable[[list[str] | None], None]:
    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"shop-{name}", description=f"The shop {name} service.")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("serve", help="run the HTTP server")
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
