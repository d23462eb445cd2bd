"""One chaos run: a whole stack as `shop-dev run` starts it (shop_devstack.harness), buyers prepared while
it is healthy, then their checkouts through the gateway while the killer SIGKILLs its processes and the
payment sandbox adds latency and fails a share of authorisations; then every killed process is waited for,
the stack is left to settle (no saga running, outboxes and consumers drained, payment effects done) and the
invariants are read from every database.

A run whose invariants hold, whose processes all came back and (in the full form) whose non-declined
checkouts completed at >= 99 % passes; the short form (`--short`, the test in `make test`) asserts the
invariants and the recoveries only.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from shop_devstack.bench.buyers import demo_skus
from shop_devstack.bench.shoppers import prepare
from shop_devstack.bench.stack import BENCH_ENV, SERVER_PROCESSES
from shop_devstack.chaos.facts import Facts
from shop_devstack.chaos.invariants import check
from shop_devstack.chaos.killer import Killer
from shop_devstack.chaos.report import COMPLETION_TARGET, Report
from shop_devstack.chaos.storefront import run_buyers
from shop_devstack.demo_size import DEMO_PRODUCTS, TEST_DEMO_PRODUCTS
from shop_devstack.harness import Stack, launched
from shop_devstack.layout import NATS_MONITOR_PORT

DECLINED_CARD = "4000000000000002"  # the payment sandbox declines it (card_declined)
START_TIMEOUT_SECONDS = 240.0
RECOVERY_TIMEOUT_SECONDS = 120.0
SETTLE_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class ChaosOptions:
    checkouts: int = 1000
    concurrency: int = 16
    kill_interval: float = 5.0  # seconds between two kills
    first_kill_after: float = 3.0  # seconds into the load
    kill_limit: int | None = None  # at most this many kills (None: until the load ends)
    victims: tuple[str, ...] = SERVER_PROCESSES  # postgres, nats, every service, sandbox, gateway
    overlap: bool = False  # kill while the previous victim is still down (default: one down at a time)
    duration: float | None = None  # no checkout starts after this many seconds of load
    rate: float | None = None  # checkouts started per second (None: as fast as the workers go)
    budget: float = 180.0  # seconds a buyer keeps at one checkout
    psp_latency_ms: int = 100  # the payment sandbox's added processing time
    psp_failure_rate: float = 0.05  # its share of authorisations failing with a retryable processing_error
    decline_share: float = 0.05  # buyers paying with the sandbox's always-declined test card
    settle_timeout: float = 180.0
    seed: int | None = None  # of the kill order and the buyers' SKUs
    short: bool = False  # assert the invariants only, not the completion target
    demo_products: int = DEMO_PRODUCTS  # the stack's seed: its first N demo products
    preferred_offset: int = 13500
    keep: bool = False  # keep the stack's folder (logs, data) even when the run passed


# The short form: ~60 checkouts at a steady pace while a kill every 3 s takes down five processes.
SHORT = ChaosOptions(
    checkouts=60,
    concurrency=6,
    kill_interval=3.0,
    first_kill_after=2.0,
    kill_limit=5,
    rate=3.5,
    budget=90.0,
    settle_timeout=90.0,
    short=True,
    demo_products=TEST_DEMO_PRODUCTS,
)


@dataclass
class ChaosResult:
    report: Report
    folder: Path
    recovered: bool  # every killed process served again

    @property
    def passed(self) -> bool:
        complete_enough = self.report.short or self.report.completion >= COMPLETION_TARGET
        return self.report.invariants_kept and self.recovered and complete_enough


def stack_env(options: ChaosOptions) -> dict[str, str]:
    """Buyers as separate people behind a proxy (the bench's settings), the provider slow and faulty."""
    return {
        **BENCH_ENV,
        "SHOP_SANDBOX_SANDBOX_LATENCY_MS": str(options.psp_latency_ms),
        "SHOP_SANDBOX_SANDBOX_FAILURE_RATE": str(options.psp_failure_rate),
    }


def run_chaos(options: ChaosOptions, folder: Path | None = None, say: Callable[[str], None] = print) -> ChaosResult:
    """One run in `folder` (default: a temporary folder, removed when the run passed unless `keep`)."""
    root = folder or Path(tempfile.mkdtemp(prefix="shop-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    say(f"chaos: starting a stack in {root}")
    offset, env = options.preferred_offset, stack_env(options)
    with launched(
        root,
        preferred_offset=offset,
        env=env,
        start_timeout=START_TIMEOUT_SECONDS,
        demo_products=options.demo_products,
    ) as stack:
        monitor = f"http://127.0.0.1:{NATS_MONITOR_PORT + stack.offset}"
        facts = Facts(stack.data_dir, monitor)
        killer = Killer(
            stack.data_dir,
            options.victims,
            options.kill_interval,
            rng=random.Random(options.seed),
            limit=options.kill_limit,
            first_after=options.first_kill_after,
            overlap=options.overlap,
            say=say,
        )
        try:
            report, recovered = asyncio.run(_run(options, facts, killer, stack, say))
        finally:
            killer.stop()  # whatever ended the run (an interrupt too), no process dies after it
    outcome = ChaosResult(report, root, recovered)
    if outcome.passed and folder is None and not options.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        say(f"chaos: the stack's logs and data are in {root}")
    return outcome


async def _run(
    options: ChaosOptions, facts: Facts, killer: Killer, stack: Stack, say: Callable[[str], None]
) -> tuple[Report, bool]:
    rng = random.Random(options.seed)
    skus = demo_skus(options.demo_products)
    rng.shuffle(skus)
    gateway, sandbox = stack.gateway_url, stack.sandbox_url
    verify = stack.sandbox_context()  # the sandbox's public face: its CA, no client certificate
    say(f"chaos: preparing {options.checkouts} buyers (token, own card, one line in the cart)")
    buyers = await prepare(gateway, sandbox, skus, options.checkouts, 0, verify)
    key_prefix = f"chaos-{uuid.uuid4().hex[:10]}-"
    for index, buyer in enumerate(buyers):
        buyer["key"] = f"{key_prefix}{index}"
    await _decline_some(sandbox, verify, rng.sample(buyers, round(options.decline_share * len(buyers))))
    before = await facts.before()
    say(f"chaos: {len(buyers)} checkouts, concurrency {options.concurrency}, a kill every {options.kill_interval:g} s")
    started = time.monotonic()
    killer.start()
    try:
        outcomes = await run_buyers(
            gateway,
            buyers,
            concurrency=options.concurrency,
            budget=options.budget,
            rate=options.rate,
            until=started + options.duration if options.duration else None,
        )
    finally:
        killer.stop()
    load_seconds = time.monotonic() - started
    say(f"chaos: load done in {load_seconds:.0f} s; waiting for every killed process to serve again")
    recovered = await asyncio.to_thread(killer.wait_recovered, RECOVERY_TIMEOUT_SECONDS)
    settle_started = time.monotonic()
    unsettled = await _settle(facts, key_prefix, options.settle_timeout, say)
    settle_seconds = time.monotonic() - settle_started
    shown = {order for outcome in outcomes for order in outcome.orders_shown}
    after = await facts.after(before, key_prefix, shown)
    settings: dict[str, Any] = {
        name: value
        for name, value in asdict(options).items()
        if name not in ("victims", "preferred_offset", "keep") and value is not None
    }
    invariants = check(before, after, shown)
    report = Report(outcomes, killer.kills, invariants, load_seconds, settle_seconds, settings, unsettled)
    report.short = options.short
    return report, recovered


async def _decline_some(sandbox: str, verify: ssl.SSLContext, buyers: list[dict[str, Any]]) -> None:
    """These buyers pay with a card the provider declines: their checkouts compensate (release the stock)."""
    card = {"number": DECLINED_CARD, "exp_month": 12, "exp_year": time.gmtime().tm_year + 2, "cvc": "123"}
    async with httpx.AsyncClient(timeout=60.0, verify=verify) as client:
        for buyer in buyers:
            method = await client.post(f"{sandbox}/v1/payment_methods", json={"card": card})
            method.raise_for_status()
            buyer["payment_method"] = method.json()["id"]


async def _settle(facts: Facts, key_prefix: str, within: float, say: Callable[[str], None]) -> dict[str, int]:
    """Wait until nothing moves any more; what still moved when `within` seconds passed (empty: settled)."""
    deadline = time.monotonic() + within
    said = 0.0
    left: dict[str, int] = {"unknown": 1}
    while time.monotonic() < deadline:
        try:
            left = await facts.unsettled(key_prefix)
        except Exception as error:  # PostgreSQL may still be in recovery, NATS still starting
            left = {f"not readable ({type(error).__name__})": 1}
        if not left:
            return {}
        if time.monotonic() - said > 10:
            said = time.monotonic()
            say(f"chaos: settling: {left}")
        await asyncio.sleep(SETTLE_POLL_SECONDS)
    return left


def options_for(short: bool, **overrides: Any) -> ChaosOptions:
    """The full or short defaults with the given fields replaced (None leaves a default)."""
    base = SHORT if short else ChaosOptions()
    return replace(base, **{name: value for name, value in overrides.items() if value is not None})
