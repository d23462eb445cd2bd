"""The soak suite's short form: 45 s of the visitors' mix (browsing, abandoned carts, checkouts) at a small
fixed rate through the gateway of a whole `shop-dev run` stack while every process is sampled; no request
may fail and every process must have been sampled (memory, descriptors, connections, PostgreSQL's backends
per database). Growth is judged only by the full `make soak`: 45 s cannot tell it from noise.

The judging rules themselves (where the maximum is, which windows are compared, what counts as growth and
as an error) are checked on made-up figures first, without a stack.

The stack test is skipped only when SHOP_SKIP_LAUNCHER_TEST=1 is set, like the launcher's own test.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from shop_devstack.bench.stack import SERVER_PROCESSES
from shop_devstack.chaos.storefront import DECLINED, FAILED, Outcome
from shop_devstack.soak.figures import Errors, Level, ProcessFigures, Windows, rss_trend
from shop_devstack.soak.load import Step, maximum
from shop_devstack.soak.recorder import Request
from shop_devstack.soak.report import SoakReport
from shop_devstack.soak.runner import SHORT, run_soak
from shop_devstack.soak.sampler import Sample

SERVICE_DATABASES = {"catalog", "pricing", "cart", "checkout", "inventory", "order", "fraud", "sandbox"}


def step(rate: float, achieved: float, rps: float, p99_ms: float = 100.0) -> Step:
    return Step(rate, achieved, rps, p99_ms, server_errors=0, shed=0)


def test_the_maximum_is_the_last_step_before_p99_passes_the_limit() -> None:
    steps = [step(2, 2, 6), step(2.8, 2.8, 8.4), step(3.9, 3.9, 11.7, p99_ms=1400)]

    found, why = maximum(steps, p99_limit_ms=1000)

    assert found == 2.8
    assert "p99 1400 ms" in why


def test_the_maximum_is_the_last_step_before_visits_fall_behind_or_throughput_stops_growing() -> None:
    behind = [step(2, 2, 6), step(2.8, 2.1, 6.2)]
    flat = [step(2, 2, 6), step(2.8, 2.8, 8.4), step(3.9, 3.8, 8.6)]

    assert maximum(behind, 1000)[0] == 2
    assert maximum(flat, 1000)[0] == 2.8


def test_windows_leave_out_the_warm_up_and_never_overlap() -> None:
    thirty_minutes = Windows.of(0.0, 1800.0)
    short = Windows.of(0.0, 45.0, warmup=10.0)

    assert thirty_minutes.first == (120.0, 420.0) and thirty_minutes.last == (1500.0, 1800.0)
    assert short.first[0] == 10.0 and short.first[1] <= short.last[0]


def test_growth_is_beyond_anything_the_first_window_saw() -> None:
    windows = Windows((0.0, 10.0), (20.0, 30.0))
    steady = Level.of([(1.0, 10), (5.0, 12), (9.0, 11), (21.0, 12), (25.0, 11), (29.0, 12)], windows)
    leaking = Level.of([(1.0, 10), (5.0, 10), (9.0, 10), (21.0, 13), (25.0, 14), (29.0, 15)], windows)

    assert not steady.grew and leaking.grew
    assert leaking.growth == pytest.approx(0.4)


def report(processes: list[ProcessFigures], backends: dict[str, Level], blocks: Level | None = None) -> SoakReport:
    no_errors = Errors(Counter(), Counter(), Counter(), broken_visits=0, shed=0)
    return SoakReport(
        settings={}, rate=1.0, seconds=1800.0, start=0.0, windows=Windows((120.0, 420.0), (1500.0, 1800.0)),
        processes=processes, backends=backends, minutes=[], routes=[], p99_first_ms=100.0, p99_last_ms=100.0,
        requests=1, visits={}, checkouts=Counter(), errors=no_errors, restarts={}, missed=[],
        pool_bound=10, stream_blocks=blocks,
    )  # fmt: skip


def flat(value: float) -> Level:
    return Level(value, value, value)


def rising(first: float, last: float) -> Level:
    return Level(first, first, last)


FDS, CONNECTIONS, MEMORY = (
    "no growth of file descriptors",
    "no growth of connections",
    "memory growth < 5 % per process",
)


def failed(soak: SoakReport) -> dict[str, str]:
    return {v.criterion: v.detail for v in soak.verdicts() if v.ok is False}


def test_a_pool_filling_up_to_its_bound_is_not_growth_but_beyond_it_or_elsewhere_is() -> None:
    fraud = ProcessFigures("fraud", 360, flat(100e6), rising(28, 29), rising(6, 7))
    within = report([fraud], {"fraud": rising(3, 4)})
    beyond = report([fraud], {"fraud": rising(9, 11)})
    no_pool_rise = report([fraud], {"fraud": flat(3)})

    assert failed(within) == {}
    assert failed(beyond) == {FDS: "fraud", CONNECTIONS: "fraud, pg:fraud"}
    assert failed(no_pool_rise) == {FDS: "fraud", CONNECTIONS: "fraud"}


def test_nats_memory_is_judged_net_of_its_streams_write_caches_filling() -> None:
    mib = 1024 * 1024
    nats = ProcessFigures("nats", 360, rising(46 * mib, 61 * mib), flat(21), flat(9))
    caches_filled = report([nats], {}, blocks=rising(2 * mib, 6 * mib))
    nothing_written = report([nats], {}, blocks=flat(2 * mib))

    assert failed(caches_filled) == {}
    assert failed(nothing_written) == {MEMORY: "nats +32.6 %"}


def test_the_memory_trend_is_the_median_of_each_five_minutes() -> None:
    samples = [Sample(at, "cart", 1, rss=100 + int(at // 300), fds=1, connections=1) for at in range(0, 900, 5)]
    assert rss_trend(samples, start=0.0) == [100, 101, 102]
    assert rss_trend(samples, start=300.0) == [101, 102]  # samples before the start are left out


def test_errors_are_server_errors_unexpected_refusals_and_failed_checkouts_not_business_answers() -> None:
    requests = [
        Request(0.0, 0.1, "GET /v1/products", 200),
        Request(0.0, 0.1, "GET /v1/cart", 503),
        Request(0.0, 0.1, "POST /v1/cart/items", 0, "ConnectError"),
        Request(0.0, 0.1, "GET /v1/products/{id}", 404),
        Request(0.0, 0.1, "POST /v1/checkout", 402),  # the declined card below: a business answer
    ]
    checkouts = [Outcome("a", DECLINED, "payment_declined"), Outcome("b", FAILED, "timeout")]

    errors = Errors.of(requests, checkouts, broken=0, shed=0)

    assert dict(errors.server) == {"GET /v1/cart 503": 1, "POST /v1/cart/items ConnectError": 1}
    assert dict(errors.unexpected) == {"GET /v1/products/{id} 404": 1}
    assert dict(errors.failed_checkouts) == {"timeout": 1}
    assert errors.total == 4


@pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set")
@pytest.mark.timeout(360)
def test_a_short_soak_answers_every_request_and_samples_every_process(tmp_path: Path) -> None:
    result = run_soak(replace(SHORT, preferred_offset=14000, seed=9), folder=tmp_path / "soak")

    report = result.report
    print(report.render())
    assert report.errors.total == 0, report.render()
    assert not report.restarts, report.render()
    assert report.visits.get("checkout", 0) > 0 and report.visits.get("browse", 0) > 0, report.render()
    sampled = {p.name: p for p in report.processes}
    assert set(sampled) == set(SERVER_PROCESSES), report.render()
    for figures in sampled.values():
        assert figures.samples >= 10, report.render()
        assert figures.rss.first > 0 and figures.fds.first > 0, report.render()
    assert {db for db, level in report.backends.items() if level.first > 0} >= SERVICE_DATABASES, report.render()
    assert result.passed, report.render()
