"""One soak run: a whole stack as `shop-dev run` starts it (shop_devstack.harness, with the benchmark's
settings: visitors as separate people behind one proxy, rate limits out of the way), the maximum rate of
the visitors' mix measured by a step load (unless a rate is given), the backlog it left drained, then the
mix at 70 % of that maximum for the soak's length while the sampler reads every process; the report
compares the first and last windows after the warm-up.

The short form (`--short`, the test in `make test`) runs 45 s at a small fixed rate and judges the errors
only: growth cannot be told from noise in 45 s.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from shop_devstack.bench.buyers import demo_skus
from shop_devstack.bench.stack import BENCH_ENV, BenchStack
from shop_devstack.demo_size import DEMO_PRODUCTS, TEST_DEMO_PRODUCTS
from shop_devstack.environment import LOCAL_DEFAULTS
from shop_devstack.harness import launched
from shop_devstack.soak import figures
from shop_devstack.soak.load import Step, measure_maximum, run_paced
from shop_devstack.soak.recorder import recording_client
from shop_devstack.soak.report import SoakReport
from shop_devstack.soak.sampler import Sampler
from shop_devstack.soak.visits import Visits, demo_brands

START_TIMEOUT_SECONDS = 240.0
DRAIN_TIMEOUT_SECONDS = 180.0
CONNECTIONS = 256  # the visitors' client: one connection per visit in flight


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 30.0
    rate: float | None = None  # visits per second (None: `load_share` of the measured maximum)
    load_share: float = 0.7
    sample_every: float = 5.0  # seconds between two samples of every process
    warmup: float | None = None  # seconds left out before the first window (None: 10 % of the run, <= 2 min)
    first_rate: float = 2.0  # visits per second of the step load's first step
    step_seconds: float = 20.0
    max_steps: int = 12
    p99_limit_ms: float = 1000.0
    max_in_flight: int = 200  # visits running at once; arrivals beyond are shed (and are errors)
    seed: int | None = None
    short: bool = False
    demo_products: int = DEMO_PRODUCTS  # the stack's seed: its first N demo products
    preferred_offset: int = 14500
    keep: bool = False  # keep the stack's folder (logs, data) even when the run passed


SHORT = SoakOptions(minutes=0.75, rate=3.0, sample_every=3.0, warmup=10.0, short=True, demo_products=TEST_DEMO_PRODUCTS)


@dataclass
class SoakResult:
    report: SoakReport
    folder: Path

    @property
    def passed(self) -> bool:
        return self.report.passed


def run_soak(options: SoakOptions, folder: Path | None = None, say: Callable[[str], None] = print) -> SoakResult:
    """One run in `folder` (default: a temporary folder, removed when the run passed unless `keep`)."""
    root = folder or Path(tempfile.mkdtemp(prefix="shop-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    say(f"soak: starting a stack in {root}")
    with launched(
        root,
        preferred_offset=options.preferred_offset,
        env=BENCH_ENV,
        start_timeout=START_TIMEOUT_SECONDS,
        demo_products=options.demo_products,
    ) as stack:
        bench_stack = BenchStack("soak", stack, time.monotonic())
        report = asyncio.run(_run(options, bench_stack, say))
    outcome = SoakResult(report, root)
    if outcome.passed and folder is None and not options.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        say(f"soak: the stack's logs and data are in {root}")
    return outcome


async def _run(options: SoakOptions, stack: BenchStack, say: Callable[[str], None]) -> SoakReport:
    rng = random.Random(options.seed)
    skus, brands = demo_skus(options.demo_products), demo_brands(options.demo_products)
    # The gateway in plain HTTP; the sandbox's public face over HTTPS, checked against the stack's CA.
    client, recorder = recording_client(CONNECTIONS, verify=stack.stack.sandbox_context())
    async with client:
        rate, maximum, why = options.rate, None, ""
        steps: list[Step] = []
        if rate is None:
            say(f"soak: measuring the maximum: steps of {options.step_seconds:g} s from {options.first_rate:g}/s")
            probe = Visits(client, stack.gateway_url, stack.sandbox_url, rng, skus, brands)
            maximum, why, steps = await measure_maximum(
                probe,
                recorder,
                first_rate=options.first_rate,
                step_seconds=options.step_seconds,
                p99_limit_ms=options.p99_limit_ms,
                max_steps=options.max_steps,
                max_in_flight=options.max_in_flight,
                say=say,
            )
            rate = options.load_share * maximum
            say(f"soak: maximum {maximum:.1f} visits/s ({why}); soaking at {rate:.1f} visits/s")
            await asyncio.to_thread(stack.wait_drained, DRAIN_TIMEOUT_SECONDS)
        visits = Visits(client, stack.gateway_url, stack.sandbox_url, rng, skus, brands)
        sampler = Sampler(stack.stack.data_dir, options.sample_every, stack.nats_monitor_url)
        sampling = asyncio.create_task(sampler.run())
        seconds = 60 * options.minutes
        say(f"soak: {rate:.1f} visits/s for {options.minutes:g} min, sampling every {options.sample_every:g} s")
        start = time.monotonic()
        try:
            paced = await run_paced(visits, rate, seconds, options.max_in_flight)
        finally:
            sampler.stop.set()
            samples = await sampling
        end = start + seconds
    requests = [r for r in recorder.requests if r.started >= start]
    windows = figures.Windows.of(start, end, options.warmup)
    settings: dict[str, Any] = {
        name: value
        for name, value in asdict(options).items()
        if name not in ("preferred_offset", "keep", "short") and value is not None
    }
    return SoakReport(
        settings=settings,
        rate=rate,
        seconds=paced.seconds,
        start=start,
        windows=windows,
        processes=figures.process_figures(samples, windows, start),
        backends=figures.backend_figures(samples, windows),
        pool_bound=pool_bound(),
        stream_blocks=figures.stream_block_figures(samples, windows),
        minutes=figures.minutes(requests, start),
        routes=figures.routes(requests),
        p99_first_ms=figures.window_p99(requests, windows.first),
        p99_last_ms=figures.window_p99(requests, windows.last),
        requests=len(requests),
        visits=dict(visits.kinds),
        checkouts=Counter(o.code if o.code == o.result else f"{o.result} {o.code}" for o in visits.checkouts),
        errors=figures.Errors.of(requests, visits.checkouts, len(visits.broken), paced.shed),
        restarts=samples.restarts,
        missed=samples.missed,
        short=options.short,
        maximum=maximum,
        maximum_why=why,
        steps=steps,
    )


def pool_bound() -> int:
    """PostgreSQL connections one process's pool may hold, as the stack's processes are configured."""
    settings = {**LOCAL_DEFAULTS, **BENCH_ENV, **os.environ}
    return int(settings["DB_POOL_SIZE"]) + int(settings["DB_MAX_OVERFLOW"])


def options_for(short: bool, **overrides: Any) -> SoakOptions:
    """The full or short defaults with the given fields replaced (None leaves a default)."""
    base = SHORT if short else SoakOptions()
    return replace(base, **{name: value for name, value in overrides.items() if value is not None})
