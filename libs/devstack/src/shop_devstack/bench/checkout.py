"""B1, B2, B3 and B6: checkouts through the gateway, with carts prepared beforehand.

B1 puts its rate beside the raw-asyncpg floor measured in the same run at the same concurrency, and the
servers' CPU per checkout per process. B2 is the latency of an idle stack (one buyer at a time) and the p99
of B1 at the lower concurrency. B3 is a flash sale: N units of one SKU, N plus a few buyers at the higher
concurrency, against B1 at that concurrency (1,000 SKUs); exactly N must sell. B6 is B1 on a second stack
that exports every span to an OTLP receiver, against B1 on the first, measured one after the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shop_devstack.bench.buyers import Buyers, Run, StockAdmin
from shop_devstack.bench.report import Figure, Report, Target, say
from shop_devstack.bench.rig import BenchError
from shop_devstack.bench.stack import BenchStack

SPREAD_SKUS = 1000


@dataclass(frozen=True)
class CheckoutSizes:
    concurrency: tuple[int, int]  # B1 at both, B2's p99 at the first, B3 at the second
    seconds: float  # aim of one measured run (its buyers are counted from the idle stack's CPU per checkout)
    sequential: int  # B2's idle checkouts, one at a time
    extra_flash_buyers: int  # buyers beyond the units on sale (they must be told it sold out)
    max_buyers: int  # of one run


def floor_rates(stack: BenchStack, concurrency: tuple[int, int], seconds: float) -> dict[int, float]:
    """The raw-asyncpg floor (shop_devstack.bench.floor, its own process) at each concurrency."""
    levels = ",".join(str(c) for c in concurrency)
    completed = subprocess.run(
        [sys.executable, "-m", "shop_devstack.bench.floor", stack.admin_url(), levels, str(seconds), "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    if completed.returncode != 0:
        raise BenchError(f"the floor failed:\n{completed.stderr[-3000:]}")
    rates = {}
    for line in completed.stdout.strip().splitlines():
        row = json.loads(line)
        rates[int(row["concurrency"])] = float(row["rate"])
    return rates


class CheckoutCases:
    def __init__(self, report: Report, sizes: CheckoutSizes, skus: list[str], folder: Path, drain_timeout: float):
        self.report = report
        self.sizes = sizes
        self.spread = skus[:SPREAD_SKUS]
        self.hot_sku = skus[SPREAD_SKUS % len(skus)]  # one no B1 buyer has in the cart
        self.folder = folder
        self.drain_timeout = drain_timeout
        self.cpu_per_checkout = 0.4  # seconds; replaced by B2's measure
        self.runs: dict[int, Run] = {}

    def buyers_for(self, concurrency: int) -> int:
        """Enough buyers for about `seconds` at the rate the idle stack's CPU per checkout allows."""
        cores = os.cpu_count() or 2
        expected = cores / max(self.cpu_per_checkout, 0.001) * self.sizes.seconds
        return int(min(self.sizes.max_buyers, max(2 * concurrency, expected)))

    def idle(self, stack: BenchStack, report_figures: bool) -> None:
        """B2: one buyer at a time on the idle stack (also sizes the later runs)."""
        run = Buyers(stack, self.folder, self.drain_timeout).run(self.spread, self.sizes.sequential, 1)
        self.cpu_per_checkout = sum(run.cpu.values()) / max(1, run.count)
        if report_figures:
            self.report.add(
                Figure(
                    "B2",
                    "idle checkout p50",
                    float(run.result["p50_ms"]),
                    "ms",
                    Target("value", "<=", 60),
                    note=f"{run.count} sequential, {run.outcome_note()}",
                )
            )

    def spread_run(self, stack: BenchStack, concurrency: int, floor: float | None, label: str = "B1") -> Run:
        """B1 at one concurrency: rate against the floor, CPU per checkout per process."""
        count = self.buyers_for(concurrency)
        say(f"{label}: {count} buyers at c={concurrency} on {stack.label}")
        run = Buyers(stack, self.folder, self.drain_timeout).run(self.spread, count, concurrency)
        if label != "B1":
            return run
        self.runs[concurrency] = run
        self.report.add(
            Figure(
                "B1",
                f"c={concurrency} checkouts",
                run.rate,
                "/s",
                Target("ratio", ">=", 0.25),
                baseline=floor,
                baseline_name="floor",
                note=f"{run.count} buyers: {run.outcome_note()}",
            )
        )
        per_process = run.cpu_ms_per_checkout()
        total = sum(per_process.values())
        breakdown = ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(per_process.items(), key=lambda kv: -kv[1]))
        self.report.add(
            Figure(
                "B1",
                f"c={concurrency} server CPU per checkout",
                total,
                "ms",
                Target("value", "<=", 40),
                note=breakdown,
                details={"per_process_ms": {k: round(v, 2) for k, v in per_process.items()}},
            )
        )
        return run

    def p99(self, concurrency: int) -> None:
        run = self.runs.get(concurrency)
        if run is not None:
            self.report.add(
                Figure(
                    "B2",
                    f"c={concurrency} checkout p99",
                    float(run.result["p99_ms"]),
                    "ms",
                    Target("value", "<=", 1000),
                )
            )

    def flash_sale(self, stack: BenchStack, concurrency: int, spread_rate: float | None) -> None:
        """B3: N units of one SKU, N + extra buyers at `concurrency`; exactly N sold, none oversold."""
        units = self.buyers_for(concurrency)
        buyers = units + self.sizes.extra_flash_buyers
        admin = StockAdmin(stack)
        try:
            admin.open_sale(self.hot_sku, units)
            before = admin.levels(self.hot_sku)
            say(f"B3: {units} units of {self.hot_sku}, {buyers} buyers at c={concurrency}")
            run = Buyers(stack, self.folder, self.drain_timeout).run([self.hot_sku], buyers, concurrency)
            after = admin.levels(self.hot_sku)
        finally:
            admin.close()
        orders = run.orders()
        completed_at = run.result["completed_at"]
        rate = orders / completed_at[-1] if completed_at else 0.0  # until the last unit sold
        self.report.add(
            Figure(
                "B3",
                f"flash sale c={concurrency}, 1 SKU",
                rate,
                "orders/s",
                Target("ratio", ">=", 0.8),
                baseline=spread_rate,
                baseline_name="B1 1,000 SKUs",
                note=f"{buyers} buyers: {run.outcome_note()}",
            )
        )
        total = {key: sum(int(level[key]) for level in after) for key in ("on_hand", "reserved", "available")}
        gone = sum(int(level["on_hand"]) for level in before) - total["on_hand"]
        negative = any(min(level["on_hand"], level["reserved"], level["available"]) < 0 for level in after)
        oversold = max(0, orders - units) + max(0, gone - units) + (1 if negative else 0)
        self.report.add(
            Figure(
                "B3",
                f"oversold ({units} units)",
                float(oversold),
                "units",
                Target("value", "==", 0),
                note=f"{orders} orders; stock after: on hand {total['on_hand']}, reserved {total['reserved']}, "
                f"available {total['available']}; {gone} units left the shelf",
            )
        )
        sold_all = Target("value", "==", units)
        self.report.add(Figure("B3", "units sold", float(orders), f"of {units}", sold_all))


def tracing_case(
    cases: CheckoutCases, plain: BenchStack, traced: BenchStack, concurrency: int, spans: Callable[[], int]
) -> None:
    """B6: B1 on the traced stack right after B1 on the plain one; `spans` counts what the receiver got."""
    baseline = cases.runs.get(concurrency) or cases.spread_run(plain, concurrency, None, label="B6 baseline")
    started, spans_before = time.monotonic(), spans()
    run = cases.spread_run(traced, concurrency, None, label="B6")
    exported = spans() - spans_before
    cases.report.add(
        Figure(
            "B6",
            f"c={concurrency} checkouts, 100 % traced",
            run.rate,
            "/s",
            Target("ratio", ">=", 0.85),
            baseline=baseline.rate,
            baseline_name="untraced",
            note=f"{run.count} buyers in {time.monotonic() - started:.0f} s: {run.outcome_note()}; "
            f"CPU/checkout {sum(run.cpu_ms_per_checkout().values()):.0f} ms vs "
            f"{sum(baseline.cpu_ms_per_checkout().values()):.0f} ms untraced; {exported} spans exported meanwhile",
        )
    )
