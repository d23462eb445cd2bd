"""`shop-dev chaos`: its arguments and what it prints (the figures, `--json`, PASSED/FAILED and the exit
status: 0 when every invariant held, every killed process served again and, in the full form, the
completion target was met)."""

from __future__ import annotations

import argparse
from typing import Any

from shop_devstack.verdicts import conclude


def add_parser(sub: Any) -> None:
    chaos = sub.add_parser(
        "chaos", help="checkouts through the gateway while processes are SIGKILLed; then the invariants (issue 9)"
    )
    chaos.add_argument("--short", action="store_true", help="~60 checkouts, 5 kills: asserts the invariants only")
    chaos.add_argument("--checkouts", type=int, default=None, help="buyers, one checkout each (default 1000)")
    chaos.add_argument("--duration", type=float, default=None, help="seconds of load: no checkout starts later")
    chaos.add_argument("--kill-interval", type=float, default=None, help="seconds between two kills (default 5)")
    chaos.add_argument("--kills", type=int, default=None, help="at most this many kills (default: until the end)")
    chaos.add_argument("--concurrency", type=int, default=None, help="buyers at once (default 16)")
    chaos.add_argument("--rate", type=float, default=None, help="checkouts started per second (default: closed loop)")
    chaos.add_argument(
        "--victims", default=None, help="processes to kill, e.g. postgres,nats,checkout (default: all but the launcher)"
    )
    chaos.add_argument("--psp-latency-ms", type=int, default=None, help="the payment sandbox's latency (default 100)")
    chaos.add_argument(
        "--psp-failure-rate", type=float, default=None, help="share of authorisations failing (default 0.05)"
    )
    chaos.add_argument(
        "--decline-share", type=float, default=None, help="share of buyers with a declined card (default 0.05)"
    )
    chaos.add_argument(
        "--overlap", action="store_true", help="kill while the previous victim is still down (default: one at a time)"
    )
    chaos.add_argument("--seed", type=int, default=None, help="of the kill order and the buyers' SKUs")
    chaos.add_argument("--port-offset", type=int, default=None, help="preferred port offset (default 13500)")
    chaos.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, data) after a passing run")
    chaos.add_argument("--json", action="store_true", help="also print the figures as JSON at the end")


def run(args: argparse.Namespace) -> int:
    from shop_devstack.bench.stack import SERVER_PROCESSES
    from shop_devstack.chaos.runner import options_for, run_chaos

    victims = None
    if args.victims:
        victims = tuple(name.strip() for name in args.victims.split(",") if name.strip())
        unknown = [name for name in victims if name not in SERVER_PROCESSES]
        if unknown:
            raise SystemExit(f"shop-dev chaos: unknown process(es) {', '.join(unknown)}; known: {SERVER_PROCESSES}")
    options = options_for(
        args.short,
        checkouts=args.checkouts,
        duration=args.duration,
        kill_interval=args.kill_interval,
        kill_limit=args.kills,
        concurrency=args.concurrency,
        rate=args.rate,
        victims=victims,
        psp_latency_ms=args.psp_latency_ms,
        psp_failure_rate=args.psp_failure_rate,
        decline_share=args.decline_share,
        overlap=args.overlap or None,
        seed=args.seed,
        preferred_offset=args.port_offset,
        keep=args.keep or None,
    )
    return conclude("chaos", run_chaos(options, say=lambda line: print(line, flush=True)), as_json=args.json)
