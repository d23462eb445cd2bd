"""`shop-dev`: the local developer stack.

shop-dev run      start PostgreSQL, NATS, every installed service, the payment sandbox and the gateway;
                  seed demo data; supervise (--payments stripe: a local fake Stripe instead of the sandbox)
shop-dev status   health of every service (and the sandbox, the gateway) on its fixed port
shop-dev seed     (re)seed the demo data into a running stack
shop-dev psql     a psql shell on a service's database (embedded PostgreSQL)
shop-dev mail     the mails the stack's SMTP catcher caught (list, or print one)
shop-dev bench    the benchmark suite B1..B8: every figure beside its baseline measured in the same run
shop-dev chaos    checkouts while random processes are SIGKILLed, then the invariants in every database
shop-dev soak     a long steady load: memory, descriptors, connections and p99 of every process over time
shop-dev nats-auth  the services' NATS users and permissions, for a server of your own (config, secrets)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from shop_devstack.demo_size import DEMO_PRODUCTS
from shop_devstack.layout import KNOWN_PROCESSES, Layout, default_data_dir, find_repo_root


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="data folder (default: $SHOP_DATA_DIR or <repo>/.data)"
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=None,
        help="add this to every port (gRPC, HTTP, metrics, NATS), to run a second stack (e.g. 2000)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _demo_products(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo-products",
        type=_positive,
        default=DEMO_PRODUCTS,
        help=f"seed the first N demo products (default {DEMO_PRODUCTS}; the test stacks seed fewer)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shop-dev", description="The shop platform's local developer stack.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start everything locally; Ctrl-C stops it")
    _common(run)
    run.add_argument("--follow", "-f", action="store_true", help="print the services' logs as they are written")
    run.add_argument("--reseed", action="store_true", help="seed the demo data again even if it was seeded")
    run.add_argument("--no-seed", action="store_true", help="don't seed demo data")
    _demo_products(run)
    run.add_argument(
        "--only",
        default=None,
        help="comma-separated services to start, e.g. catalog,pricing,gateway (default: every installed one)",
    )
    run.add_argument(
        "--payments",
        choices=["sandbox", "stripe"],
        default=os.environ.get("PAYMENTS") or "sandbox",
        help="payment provider: the payment sandbox (default), or stripe: the Stripe adapter against a local "
        "fake Stripe (localstripe) that replaces the sandbox (env PAYMENTS)",
    )
    run.add_argument(
        "--start-timeout", type=float, default=90.0, help="seconds the services (then the gateway) may take to serve"
    )
    run.add_argument(
        "--stop-grace",
        type=float,
        default=15.0,
        help="seconds services get to drain after SIGTERM before they are killed",
    )

    status = sub.add_parser("status", help="health of every service on its fixed port")
    _common(status)

    seed = sub.add_parser("seed", help="seed the demo data into a running stack (again)")
    _common(seed)
    seed.add_argument("--only", default=None, help="comma-separated services to seed")
    _demo_products(seed)

    psql = sub.add_parser("psql", help="a psql shell as a service's role on its database")
    _common(psql)
    psql.add_argument("service", help="e.g. catalog")
    psql.add_argument("args", nargs=argparse.REMAINDER, help="more psql arguments")

    mail = sub.add_parser("mail", help="the mails the services sent, as the stack's SMTP catcher caught them")
    _common(mail)
    mail.add_argument(
        "which", nargs="?", default=None, help="print this one: its number in the list (-1: the newest) or file name"
    )
    mail.add_argument("--raw", action="store_true", help="print the whole message source, headers and HTML too")

    sub.add_parser(
        "test",
        help="every package's tests in its own pytest process: shop-dev test [FOLDER ...] [-- PYTEST ARGS]",
    )
    bench = sub.add_parser("bench", help="the benchmark suite B1..B8 (issue 8), each figure beside its baseline")
    bench.add_argument("--only", default=None, help="comma-separated cases, e.g. B1,B5 (default: all of B1..B8)")
    bench.add_argument("--json", action="store_true", help="also print the figures as JSON at the end")
    bench.add_argument("--smoke", action="store_true", help="tiny sizes and durations: proves every case still works")
    from shop_devstack import natsconfig
    from shop_devstack.chaos import command as chaos_command
    from shop_devstack.soak import command as soak_command

    chaos_command.add_parser(sub)
    soak_command.add_parser(sub)
    natsconfig.add_parser(sub)
    return parser


def _layout(args: argparse.Namespace) -> Layout:
    data_dir = (args.data_dir or default_data_dir()).resolve()
    offset = args.port_offset
    if offset is None:
        from shop_devstack.state import State

        state = State.read(Layout(data_dir).state_file)
        offset = state.port_offset if state is not None and args.command != "run" else 0
    return Layout(data_dir, offset)


def _names(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in KNOWN_PROCESSES]
    if unknown:
        raise SystemExit(f"shop-dev: unknown service(s) {', '.join(unknown)}; known: {', '.join(KNOWN_PROCESSES)}")
    return names


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["test"]:  # its arguments go to pytest, so argparse stays out of the way
        from shop_devstack import testrun

        root = find_repo_root()
        if root is None:
            raise SystemExit("shop-dev test: run it inside the repository")
        raise SystemExit(testrun.main(argv[1:], root))
    args = build_parser().parse_args(argv)
    if args.command == "run":
        # The launcher forks (then execs at once) while its health probes use gRPC: without this, gRPC's
        # fork handlers log "skipping fork() handlers" on every start after the first probe. Must be set
        # before grpc is imported; children inherit it, harmless as none forks and keeps using gRPC.
        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
        from shop_devstack.launcher import Launcher, LaunchError, RunOptions

        layout = _layout(args)
        options = RunOptions(
            data_dir=layout.data_dir,
            port_offset=layout.port_offset,
            seed=not args.no_seed,
            reseed=args.reseed,
            demo_products=args.demo_products,
            follow=args.follow,
            start_timeout=args.start_timeout,
            stop_grace=args.stop_grace,
            only=_names(args.only),
            payments=args.payments,
        )
        try:
            code = asyncio.run(Launcher(options).run())
        except LaunchError as exc:
            print(f"shop-dev: {exc}", file=sys.stderr)
            code = 2
        sys.exit(code)
    if args.command == "status":
        from shop_devstack.status import show_status

        sys.exit(asyncio.run(show_status(_layout(args))))
    if args.command == "seed":
        from shop_devstack.status import seed_running

        sys.exit(asyncio.run(seed_running(_layout(args), _names(args.only), args.demo_products)))
    if args.command == "psql":
        from shop_devstack.status import psql_command

        argv_psql = psql_command(_layout(args), args.service, args.args)
        os.execv(argv_psql[0], argv_psql)
    if args.command == "mail":
        from shop_devstack.mailcatcher import show

        sys.exit(show(_layout(args).mail_dir, args.which, raw=args.raw))
    if args.command == "bench":
        from shop_devstack.bench.suite import SuiteOptions, parse_only, run_suite

        sys.exit(run_suite(SuiteOptions(only=parse_only(args.only), as_json=args.json, smoke=args.smoke)))
    if args.command == "chaos":
        from shop_devstack.chaos import command as chaos_command

        sys.exit(chaos_command.run(args))
    if args.command == "soak":
        from shop_devstack.soak import command as soak_command

        sys.exit(soak_command.run(args))
    if args.command == "nats-auth":
        from shop_devstack import natsconfig

        sys.exit(natsconfig.run(args))
