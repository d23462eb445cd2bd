"""B8: events/s through outbox -> NATS -> a consumer's transaction (the worker process on the rig), and
how soon a freshly seeded stack is back to idle (its servers' CPU in the seconds after "ready")."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from shop_devstack.bench.cpu import spent
from shop_devstack.bench.report import Figure, Report, Target
from shop_devstack.bench.rig import BenchError, Rig
from shop_devstack.bench.stack import BenchStack

IDLE_AFTER_SECONDS = 30.0
IDLE_WINDOW_SECONDS = 5.0


async def events_case(rig: Rig, report: Report, n: int) -> None:
    url = await rig.database("bench_events")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shop_devstack.bench.events_worker",
        url,
        rig.nats_url,
        str(n),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 600)
    if process.returncode != 0:
        raise BenchError(f"the events worker failed:\n{stderr.decode(errors='replace')[-3000:]}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    relay = f"relay {result['relay_rate']:.0f} events/s, {result['relay_cpu_ms']} ms CPU/event"
    report.add(
        Figure(
            "B8",
            "events/s into one consumer's transactions",
            float(result["batch_consumer_rate"]),
            "events/s",
            Target("value", ">=", 2000),
            note=f"{n} events, a batch handler (one INSERT per batch, as dynamic pricing); "
            f"{result['batch_consumer_cpu_ms']} ms CPU/event; {relay}",
        )
    )
    report.add(
        Figure(
            "B8",
            "the same, a handler per message",
            float(result["consumer_rate"]),
            "events/s",
            note=f"one INSERT per message, the batch in one transaction; {result['consumer_cpu_ms']} ms CPU/event",
        )
    )


def idle_case(stack: BenchStack, report: Report, after: float = IDLE_AFTER_SECONDS) -> None:
    """The stack's servers' CPU (% of one core, all processes together) in the window that ends `after`
    seconds after it reported ready."""
    processes = stack.processes()
    window_start = stack.ready_at + after - IDLE_WINDOW_SECONDS
    time.sleep(max(0.0, window_start - time.monotonic()))
    before, started = processes.snapshot(), time.monotonic()
    time.sleep(IDLE_WINDOW_SECONDS)
    used = spent(before, processes.snapshot())
    seconds = time.monotonic() - started
    percent = 100 * sum(used.values()) / seconds
    busiest = sorted(used.items(), key=lambda kv: -kv[1])[:3]
    try:
        backlog = sum(stack.pending_messages().values())
    except OSError:
        backlog = -1
    report.add(
        Figure(
            "B8",
            f"stack CPU {after:.0f} s after ready",
            percent,
            "% of a core",
            Target("value", "<=", 5),
            note=f"busiest: {', '.join(f'{name} {100 * s / seconds:.0f} %' for name, s in busiest)}; "
            f"NATS backlog {backlog} messages",
        )
    )
