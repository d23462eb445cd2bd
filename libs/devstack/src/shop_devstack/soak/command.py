"""`shop-dev soak`: its arguments and what it prints (the figures, `--json`, PASSED/FAILED and the exit
status: 0 when every verdict held)."""

from __future__ import annotations

import argparse
from typing import Any

from shop_devstack.verdicts import conclude


def add_parser(sub: Any) -> None:
    soak = sub.add_parser(
        "soak", help="a long steady load at 70 %% of the measured maximum; memory, fds, connections, p99 (issue 9)"
    )
    soak.add_argument("--short", action="store_true", help="45 s at 3 visits/s: judges the errors only")
    soak.add_argument("--minutes", type=float, default=None, help="length of the soak (default 30)")
    soak.add_argument("--rate", type=float, default=None, help="visits per second (default: 70 %% of the maximum)")
    soak.add_argument("--load-share", type=float, default=None, help="share of the maximum to run at (default 0.7)")
    soak.add_argument("--sample-every", type=float, default=None, help="seconds between samples (default 5)")
    soak.add_argument("--warmup", type=float, default=None, help="seconds before the first window (default 10 %%)")
    soak.add_argument("--step-seconds", type=float, default=None, help="length of a step load step (default 20)")
    soak.add_argument("--seed", type=int, default=None, help="of the visitors' choices")
    soak.add_argument("--port-offset", type=int, default=None, help="preferred port offset (default 14500)")
    soak.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, data) after a passing run")
    soak.add_argument("--json", action="store_true", help="also print the figures as JSON at the end")


def run(args: argparse.Namespace) -> int:
    from shop_devstack.soak.runner import options_for, run_soak

    options = options_for(
        args.short,
        minutes=args.minutes,
        rate=args.rate,
        load_share=args.load_share,
        sample_every=args.sample_every,
        warmup=args.warmup,
        step_seconds=args.step_seconds,
        seed=args.seed,
        preferred_offset=args.port_offset,
        keep=args.keep or None,
    )
    return conclude("soak", run_soak(options, say=lambda line: print(line, flush=True)), as_json=args.json)
