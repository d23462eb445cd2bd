"""The open model the soak runs in: visits arrive at a fixed rate whatever the answers' speed (a slow shop
does not slow its visitors down), each in a task of its own; and the step load that measures the maximum
rate at the start, the way loadtests' knee does: the rate grows step by step until p99 passes the limit,
the visits no longer keep up with the arrivals, or the throughput stops growing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shop_devstack.bench.shoppers import percentile
from shop_devstack.soak.recorder import Recorder
from shop_devstack.soak.visits import Visits


@dataclass(frozen=True)
class Paced:
    arrivals: int
    shed: int  # arrivals not started because `max_in_flight` visits were still running
    seconds: float  # from the first arrival until the last visit finished


async def run_paced(visits: Visits, rate: float, seconds: float, max_in_flight: int) -> Paced:
    """`rate` visits per second for `seconds`, then wait for the visits still running."""
    started = time.monotonic()
    running: set[asyncio.Task[None]] = set()
    arrivals = shed = 0
    while (due := started + arrivals / rate) < started + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        arrivals += 1
        if len(running) >= max_in_flight:
            shed += 1  # the shop is so far behind that a visitor more would only measure the backlog
            continue
        task = asyncio.create_task(visits.visit(visits.pick()))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)
    return Paced(arrivals, shed, time.monotonic() - started)


@dataclass(frozen=True)
class Step:
    rate: float  # visits offered per second
    achieved: float  # visits served per second (arrivals over the time until the last one finished)
    requests_per_second: float
    p99_ms: float
    server_errors: int
    shed: int


STEP_GROWTH = 1.4  # each step offers 40 % more visits per second
KEEP_UP_SHARE = 0.9  # a step whose visits were served at under 90 % of the offered rate fell behind
THROUGHPUT_GROWTH = 1.05  # a step whose requests/s grew less than 5 % over the last one gained nothing


def verdict(step: Step, previous: Step | None, p99_limit_ms: float) -> str:
    """Why this step is past the maximum ("" when it held)."""
    if step.p99_ms > p99_limit_ms:
        return f"p99 {step.p99_ms:.0f} ms passed {p99_limit_ms:.0f} ms"
    if step.shed or step.achieved < KEEP_UP_SHARE * step.rate:
        return f"served {step.achieved:.1f} visits/s of {step.rate:.1f} offered"
    if previous is not None and step.requests_per_second < THROUGHPUT_GROWTH * previous.requests_per_second:
        grew = f"{previous.requests_per_second:.1f} -> {step.requests_per_second:.1f} req/s"
        return f"throughput stopped growing ({grew})"
    if step.server_errors:
        return f"{step.server_errors} server errors"
    return ""


def maximum(steps: Sequence[Step], p99_limit_ms: float) -> tuple[float, str]:
    """The highest rate that held before the first step past the maximum, and why the step load stopped."""
    held = 0.0
    for index, step in enumerate(steps):
        why = verdict(step, steps[index - 1] if index else None, p99_limit_ms)
        if why:
            return (held or step.rate * KEEP_UP_SHARE**2), f"at {step.rate:.1f} visits/s: {why}"
        held = step.rate
    return held, f"every step held up to {held:.1f} visits/s (the step limit)"


async def measure_maximum(
    visits: Visits,
    recorder: Recorder,
    *,
    first_rate: float,
    step_seconds: float,
    p99_limit_ms: float,
    max_steps: int,
    max_in_flight: int,
    say: Callable[[str], None],
) -> tuple[float, str, list[Step]]:
    """Step load of the soak's mix; (the maximum visits/s, why it stopped, the steps)."""
    steps: list[Step] = []
    rate = first_rate
    for _ in range(max_steps):
        since = time.monotonic()
        paced = await run_paced(visits, rate, step_seconds, max_in_flight)
        requests = [r for r in recorder.requests if r.started >= since]
        latencies = sorted(r.seconds for r in requests)
        step = Step(
            rate=rate,
            achieved=(paced.arrivals - paced.shed) / paced.seconds,
            requests_per_second=len(requests) / paced.seconds,
            p99_ms=1000 * percentile(latencies, 0.99),
            server_errors=sum(1 for r in requests if r.server_error),
            shed=paced.shed,
        )
        steps.append(step)
        why = verdict(step, steps[-2] if len(steps) > 1 else None, p99_limit_ms)
        say(
            f"soak: step {rate:6.1f} visits/s: served {step.achieved:5.1f}/s, {step.requests_per_second:6.1f} req/s, "
            f"p99 {step.p99_ms:5.0f} ms{f' -> {why}' if why else ''}"
        )
        if why:
            break
        rate *= STEP_GROWTH
    found, why = maximum(steps, p99_limit_ms)
    return found, why, steps
