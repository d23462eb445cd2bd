"""`shop-dev bench`: the benchmark suite of B1..B8, every figure beside its baseline of the same run.

Order (what runs beside what is chosen so that nothing is measured while something else works):
1. Start at once: stack "plain" (a whole `shop-dev run`), stack "traced" (the same, exporting every span to
   an OTLP receiver process; for B6), and the rig (own PostgreSQL, NATS, catalog processes) that loads B7's
   catalogs in SQL meanwhile.
2. B8's idle figure: the plain stack's CPU in the seconds up to 30 s after it reported ready.
3. Wait until both stacks' NATS backlogs are drained (the seed's events) and B7's loads are done.
4. On the plain stack: B2 (idle), the floor (B1's baseline), B1 at both concurrencies, B6 on the traced
   stack right after B1 at the first, B3, B4.
5. Stacks stopped; on the rig: B5, B7, B8's events.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shop_devstack.bench import checkout, events, reads, runner, search
from shop_devstack.bench.buyers import demo_skus
from shop_devstack.bench.report import Report, say
from shop_devstack.bench.rig import Rig, free_port
from shop_devstack.bench.stack import BenchStack, Stacks
from shop_devstack.layout import ensure_runtime_dir, find_executable
from shop_devstack.processes import ChildProcess

CASES = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8")
ON_THE_STACK = {"B1", "B2", "B3", "B4", "B6", "B8"}
ON_THE_RIG = {"B5", "B7", "B8"}
# Port offsets: random in the harness's own range (people use low ones by hand); the two stacks start at the
# same time, so they are 500 apart, a distance at which no port of one is a port of the other.
STACK_DISTANCE = 500


@dataclass(frozen=True)
class Sizes:
    checkout: checkout.CheckoutSizes
    floor_seconds: float
    drain_timeout: float  # seconds to wait for the seed's NATS backlog before measuring anyway
    start_timeout: float
    wrk_seconds: float
    wrk_rounds: int
    grpc_seconds: float
    grpc_warmup: float
    grpc_concurrency: list[int] = field(default_factory=lambda: [1, 16])
    catalogs: tuple[int, int] = (10_000, 1_000_000)
    search_seconds: float = 3.0
    search_rounds: int = 2
    events: int = 10_000


NORMAL = Sizes(
    checkout.CheckoutSizes(concurrency=(16, 64), seconds=8.0, sequential=20, extra_flash_buyers=16, max_buyers=3000),
    floor_seconds=5.0,
    drain_timeout=240.0,
    start_timeout=600.0,
    wrk_seconds=5.0,
    wrk_rounds=3,
    grpc_seconds=5.0,
    grpc_warmup=1.0,
)
SMOKE = Sizes(
    checkout.CheckoutSizes(concurrency=(4, 8), seconds=1.0, sequential=3, extra_flash_buyers=2, max_buyers=16),
    floor_seconds=1.0,
    drain_timeout=15.0,
    start_timeout=600.0,
    wrk_seconds=1.0,
    wrk_rounds=1,
    grpc_seconds=1.0,
    grpc_warmup=0.2,
    catalogs=(1_000, 10_000),
    search_seconds=0.5,
    search_rounds=1,
    events=500,
)


@dataclass
class SuiteOptions:
    only: list[str] = field(default_factory=lambda: list(CASES))
    as_json: bool = False
    smoke: bool = False


def parse_only(value: str | None) -> list[str]:
    if not value:
        return list(CASES)
    names = [n.strip().upper() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"shop-dev bench: unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    return [n for n in CASES if n in names]


def run_suite(options: SuiteOptions) -> int:
    if find_executable("shop-catalog") is None or find_executable("shop-gateway") is None:
        print("shop-dev bench: the services are not installed (run `make install`)", flush=True)
        return 2
    sizes = SMOKE if options.smoke else NORMAL
    report = Report()
    say(f"shop-dev bench{' --smoke' if options.smoke else ''}: {', '.join(options.only)}")
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        root = Path(tmp)
        ensure_runtime_dir(root / "xdg")
        Suite(root, set(options.only), sizes, report).run()
    print()
    print(report.table(), flush=True)
    if options.as_json:
        print(report.as_json(), flush=True)
    return 1 if report.failures else 0


class Suite:
    def __init__(self, root: Path, selected: set[str], sizes: Sizes, report: Report):
        self.root = root
        self.selected = selected
        self.sizes = sizes
        self.report = report
        self.rig = Rig(root / "rig")
        self.catalogs: dict[int, tuple[str, str, str]] = {}  # B7: products -> (target, database, category)
        self.sink: ChildProcess | None = None

    def attempt(self, cases: str, work: Callable[[], object]) -> None:
        """Run one case's work; a failure is reported and the suite goes on with the others."""
        if not set(cases.split(",")) & self.selected:
            return
        try:
            work()
        except Exception as exc:
            self.report.fail(cases, f"{type(exc).__name__}: {exc}")

    def run(self) -> None:
        stacks = Stacks(self.root / "stacks", self.sizes.start_timeout)
        rig_ready: threading.Thread | None = None
        rig_error: list[BaseException] = []
        try:
            plain = traced = None
            if self.selected & ON_THE_STACK:
                say("starting the stack(s); the seed takes a while")
                offset = random.randrange(10950, 14900, 10)
                plain = stacks.start("plain", {}, offset)
                if "B6" in self.selected:
                    traced = stacks.start("traced", self.start_sink(), offset + STACK_DISTANCE)
            if self.selected & ON_THE_RIG:
                # Processes start from the main thread: they get SIGTERM when the thread that forked them ends.
                asyncio.run(self.start_rig())
                rig_ready = threading.Thread(target=self.load_catalogs, args=(rig_error,), name="catalog-load")
                rig_ready.start()
            a = self.started(plain, ",".join(sorted(self.selected & ON_THE_STACK)))
            if a is not None:
                say(f"stack plain ready (port offset {a.stack.offset})")
                self.attempt("B8", lambda: events.idle_case(a, self.report))
                b = self.started(traced, "B6")
                self.drain(a, b)
                if rig_ready is not None:
                    rig_ready.join()
                self.on_stacks(a, b)
            stacks.close()
            if rig_ready is not None:
                rig_ready.join()
                if rig_error:
                    raise rig_error[0]
                asyncio.run(self.on_rig())
        except Exception as exc:
            self.report.fail("suite", f"{type(exc).__name__}: {exc}")
        finally:
            stacks.close()
            if self.sink is not None:
                self.sink.signal(15)
            asyncio.run(self.rig.stop())

    def started(self, stack: Future[BenchStack] | None, cases: str) -> BenchStack | None:
        """The stack once it serves; None (and its cases reported as failed) when it could not start."""
        if stack is None:
            return None
        try:
            return stack.result()
        except Exception as exc:
            self.report.fail(cases, f"the stack did not start: {type(exc).__name__}: {exc}")
            return None

    async def start_rig(self) -> None:
        await self.rig.start()
        if "B7" in self.selected:
            for products in self.sizes.catalogs:
                self.catalogs[products] = await search.start_catalog(self.rig, products)

    def start_sink(self) -> dict[str, str]:
        port = free_port()
        self.sink = ChildProcess(
            "otlp-sink",
            [sys.executable, "-m", "shop_devstack.bench.otlp_sink", str(port)],
            dict(os.environ),
            self.root / "otlp-sink.log",
        )
        self.sink.start()
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        }

    def spans_received(self) -> int:
        lines = [line for line in (self.root / "otlp-sink.log").read_text().splitlines() if line.startswith("spans ")]
        return int(lines[-1].split()[1]) if lines else 0

    def load_catalogs(self, errors: list[BaseException]) -> None:
        """B7's bulk loads (database work only: no process is started from this thread)."""

        async def load() -> None:
            for products, (_, database, category) in self.catalogs.items():
                await search.load(self.rig, database, category, products)

        try:
            asyncio.run(load())
        except BaseException as exc:
            errors.append(exc)

    def drain(self, *stacks: BenchStack | None) -> None:
        for stack in stacks:
            if stack is None:
                continue
            started = time.monotonic()
            try:
                stack.wait_drained(self.sizes.drain_timeout)
                say(f"stack {stack.label}: NATS backlog drained {time.monotonic() - stack.ready_at:.0f} s after ready")
            except TimeoutError as exc:
                say(f"{exc}: measuring with the backlog (waited {time.monotonic() - started:.0f} s)")

    def on_stacks(self, plain: BenchStack, traced: BenchStack | None) -> None:
        sizes = self.sizes.checkout
        low, high = sizes.concurrency
        cases = checkout.CheckoutCases(self.report, sizes, demo_skus(), self.root, self.sizes.drain_timeout)
        floors: dict[int, float] = {}
        if self.selected & {"B1", "B2", "B3", "B6"}:
            self.attempt("B1,B2,B3,B6", lambda: cases.idle(plain, report_figures="B2" in self.selected))
        if "B1" in self.selected:
            self.attempt(
                "B1", lambda: floors.update(checkout.floor_rates(plain, (low, high), self.sizes.floor_seconds))
            )
        if self.selected & {"B1", "B2"}:
            self.attempt("B1,B2", lambda: cases.spread_run(plain, low, floors.get(low)))
            self.attempt("B2", lambda: cases.p99(low))
        if traced is not None:
            self.attempt("B6", lambda: checkout.tracing_case(cases, plain, traced, low, self.spans_received))
        if self.selected & {"B1", "B3"}:
            self.attempt("B1,B3", lambda: cases.spread_run(plain, high, floors.get(high)))
        if "B3" in self.selected:
            spread = cases.runs.get(high)
            self.attempt("B3", lambda: cases.flash_sale(plain, high, spread.rate if spread else None))
        self.attempt(
            "B4",
            lambda: reads.reads_case(
                plain, self.report, self.root, seconds=self.sizes.wrk_seconds, rounds=self.sizes.wrk_rounds
            ),
        )

    async def on_rig(self) -> None:
        sizes = self.sizes
        if "B5" in self.selected:
            await self.attempt_async(
                "B5",
                runner.get_product_case(
                    self.rig,
                    self.report,
                    concurrency=sizes.grpc_concurrency,
                    duration=sizes.grpc_seconds,
                    warmup=sizes.grpc_warmup,
                ),
            )
        if "B7" in self.selected:
            small, large = sizes.catalogs
            await self.attempt_async(
                "B7",
                search.search_case(
                    self.report,
                    (small, self.catalogs[small][0]),
                    (large, self.catalogs[large][0]),
                    duration=sizes.search_seconds,
                    rounds=sizes.search_rounds,
                ),
            )
        if "B8" in self.selected:
            await self.attempt_async("B8", events.events_case(self.rig, self.report, sizes.events))

    async def attempt_async(self, case: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:
            self.report.fail(case, f"{type(exc).__name__}: {exc}")
