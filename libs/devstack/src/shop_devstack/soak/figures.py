"""The figures a soak is judged on, computed from its requests and samples: the windows compared (the
first after the warm-up and the last), each process's memory, descriptors and connections in both, the
database backends in both, the latency per minute and per window, and the errors by kind."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from shop_devstack.bench.shoppers import percentile
from shop_devstack.chaos.storefront import FAILED, Outcome
from shop_devstack.soak.recorder import Request
from shop_devstack.soak.sampler import Sample, Samples

CHECKOUT_ROUTE = "POST /v1/checkout"  # its 4xx are business answers or failures: the outcome says which
TOO_MANY_REQUESTS = 429  # the soak's stack lifts the rate limits: a 429 means they did not lift
WINDOW_MAX_SECONDS = 300.0
WARMUP_MAX_SECONDS = 120.0


@dataclass(frozen=True)
class Windows:
    first: tuple[float, float]  # monotonic (from, to)
    last: tuple[float, float]

    @classmethod
    def of(cls, start: float, end: float, warmup: float | None = None) -> Windows:
        """After a warm-up (10 % of the run, 10 s to 2 min), the first and the last of up to 5 minutes,
        each at most a third of what follows the warm-up so that they never overlap."""
        duration = end - start
        warm = warmup if warmup is not None else min(WARMUP_MAX_SECONDS, max(10.0, 0.1 * duration))
        width = min(WINDOW_MAX_SECONDS, (duration - warm) / 3)
        return cls((start + warm, start + warm + width), (end - width, end))

    @property
    def seconds(self) -> float:
        return self.first[1] - self.first[0]


def _inside(at: float, window: tuple[float, float]) -> bool:
    return window[0] <= at <= window[1]


@dataclass(frozen=True)
class Level:
    """A quantity in the first and the last window: medians, and the first window's highest."""

    first: float
    first_max: float
    last: float

    @classmethod
    def of(cls, values: Sequence[tuple[float, float]], windows: Windows) -> Level:
        first = [v for at, v in values if _inside(at, windows.first)] or [0.0]
        last = [v for at, v in values if _inside(at, windows.last)] or [0.0]
        return cls(statistics.median(first), max(first), statistics.median(last))

    @property
    def growth(self) -> float:
        """The last window's median against the first's, as a fraction (0.05: 5 % more)."""
        return (self.last - self.first) / self.first if self.first else 0.0

    @property
    def grew(self) -> bool:
        """Above anything the first window saw: growth, not the ups and downs of a steady load."""
        return self.grew_beyond(0.0)

    def grew_beyond(self, allowed: float) -> bool:
        """Above anything the first window saw by more than `allowed` (a rise that bounded state explains)."""
        return self.last > self.first_max + allowed


@dataclass(frozen=True)
class ProcessFigures:
    name: str
    samples: int
    rss: Level  # bytes
    fds: Level
    connections: Level
    rss_trend: tuple[float, ...] = ()  # bytes: the median of each 5 minutes of the run

    @classmethod
    def of(cls, name: str, samples: Sequence[Sample], windows: Windows, start: float) -> ProcessFigures:
        return cls(
            name,
            len(samples),
            Level.of([(s.at, float(s.rss)) for s in samples], windows),
            Level.of([(s.at, float(s.fds)) for s in samples], windows),
            Level.of([(s.at, float(s.connections)) for s in samples], windows),
            tuple(rss_trend(samples, start)),
        )


TREND_SLICE_SECONDS = 300.0


def rss_trend(samples: Sequence[Sample], start: float, slice_seconds: float = TREND_SLICE_SECONDS) -> list[float]:
    """The RSS median of each slice of the run: a leak climbs slice after slice, a cache levels off, and
    memory a burst took stays up as a step."""
    slices: dict[int, list[float]] = {}
    for sample in samples:
        slices.setdefault(int((sample.at - start) // slice_seconds), []).append(float(sample.rss))
    return [statistics.median(values) for index, values in sorted(slices.items()) if index >= 0]


def process_figures(samples: Samples, windows: Windows, start: float) -> list[ProcessFigures]:
    names = list(dict.fromkeys(s.process for s in samples.processes))
    return [ProcessFigures.of(name, samples.of(name), windows, start) for name in names]


def backend_figures(samples: Samples, windows: Windows) -> dict[str, Level]:
    databases = sorted({name for _, counts in samples.backends for name in counts})
    return {
        database: Level.of([(at, float(counts.get(database, 0))) for at, counts in samples.backends], windows)
        for database in databases
    }


def stream_block_figures(samples: Samples, windows: Windows) -> Level | None:
    return Level.of([(at, float(b)) for at, b in samples.stream_blocks], windows) if samples.stream_blocks else None


@dataclass(frozen=True)
class Minute:
    minute: int  # from the start of the soak
    requests: int
    errors: int  # answers with no response or a 5xx
    p50_ms: float
    p99_ms: float


def p99_ms(requests: Sequence[Request]) -> float:
    return 1000 * percentile(sorted(r.seconds for r in requests), 0.99)


def minutes(requests: Sequence[Request], start: float) -> list[Minute]:
    by_minute: dict[int, list[Request]] = {}
    for request in requests:
        by_minute.setdefault(int((request.started - start) // 60), []).append(request)
    return [
        Minute(
            minute,
            len(group),
            sum(1 for r in group if r.server_error),
            1000 * percentile(sorted(r.seconds for r in group), 0.5),
            p99_ms(group),
        )
        for minute, group in sorted(by_minute.items())
    ]


@dataclass(frozen=True)
class Route:
    route: str
    requests: int
    p50_ms: float
    p99_ms: float


def routes(requests: Sequence[Request]) -> list[Route]:
    """Latency per route, the busiest first: which answers make the tail."""
    by_route: dict[str, list[float]] = {}
    for request in requests:
        by_route.setdefault(request.route, []).append(request.seconds)
    return [
        Route(route, len(seconds), 1000 * percentile(sorted(seconds), 0.5), 1000 * percentile(sorted(seconds), 0.99))
        for route, seconds in sorted(by_route.items(), key=lambda item: -len(item[1]))
    ]


def window_p99(requests: Sequence[Request], window: tuple[float, float]) -> float:
    return p99_ms([r for r in requests if _inside(r.started, window)])


@dataclass(frozen=True)
class Errors:
    server: Counter[str]  # `route status` (or the transport's error) -> answers with no response or a 5xx
    unexpected: Counter[str]  # `route status` -> 4xx a well-formed visit should never get
    failed_checkouts: Counter[str]  # failure code -> checkouts that failed for no business reason
    broken_visits: int  # visits that stopped on an unexpected answer (its request is counted above)
    shed: int  # arrivals not started: the stack was that far behind

    @classmethod
    def of(cls, requests: Sequence[Request], checkouts: Sequence[Outcome], broken: int, shed: int) -> Errors:
        return cls(
            Counter(f"{r.route} {r.error or r.status}" for r in requests if r.server_error),
            Counter(
                f"{r.route} {r.status}"
                for r in requests
                if 400 <= r.status < 500 and (r.route != CHECKOUT_ROUTE or r.status == TOO_MANY_REQUESTS)
            ),
            Counter(o.code for o in checkouts if o.result == FAILED),
            broken,
            shed,
        )

    @property
    def total(self) -> int:
        counted = [self.server, self.unexpected, self.failed_checkouts]
        return sum(sum(c.values()) for c in counted) + self.broken_visits + self.shed
