"""A soak's report: the step load that found the maximum, the load run, a table per process (memory
first/last/growth, descriptors, connections), PostgreSQL's backends per database, the latency per minute
and of the first and last windows, the errors, and a verdict per criterion.

The criteria (issue 9): no error at all; memory growth under 5 % in every process; no growth of
descriptors or connections (the last window's median no higher than anything the first window saw); p99
stable (the last window's no more than 1.5 times the first's: the soak shares its machine, so a smaller
swing is noise); and every process kept its pid. The short form judges the errors and the restarts only.

Two kinds of state fill up by design and are bounded, so their filling is not counted as growth:
- a process's connection pool opens PostgreSQL connections as the load's concurrency needs them and
  keeps them, up to DB_POOL_SIZE + DB_MAX_OVERFLOW; a rise of its database's backends that stays inside
  that bound is allowed to its connections and descriptors too (a socket each). Beyond the bound, or
  any other rise, is growth.
- NATS keeps the block each stream writes in memory (up to 8 MiB per stream, dropped when the block
  rolls over); its memory is judged after `NATS_CACHE_RSS_FACTOR` times the growth of those blocks'
  bytes (a stream written alone from an empty server to a full 8 MiB block: +30 MiB of RSS).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from shop_devstack.soak.figures import Errors, Level, Minute, ProcessFigures, Route, Windows
from shop_devstack.soak.load import Step

MEMORY_GROWTH_LIMIT = 0.05
NATS_CACHE_RSS_FACTOR = 4.0  # RSS per byte of a stream's current block (Go's heap target doubles it, buffers grow)
P99_TOLERANCE = 1.5
MIB = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    criterion: str
    ok: bool | None  # None: not judged (the short form is too short to judge growth)
    detail: str

    @property
    def word(self) -> str:
        return {True: "ok", False: "FAILED", None: "-"}[self.ok]


@dataclass
class SoakReport:
    settings: dict[str, Any]
    rate: float  # visits per second offered during the soak
    seconds: float  # of the soak's load
    start: float  # monotonic
    windows: Windows
    processes: list[ProcessFigures]
    backends: dict[str, Level]
    minutes: list[Minute]
    routes: list[Route]
    p99_first_ms: float
    p99_last_ms: float
    requests: int
    visits: dict[str, int]
    checkouts: Counter[str]  # `completed pending_review`, `declined payment_declined`, `failed timeout` ...
    errors: Errors
    restarts: dict[str, int]
    missed: list[str]
    short: bool = False
    maximum: float | None = None  # visits per second; None when the rate was given
    maximum_why: str = ""
    steps: list[Step] = field(default_factory=list)
    pool_bound: int = 0  # PostgreSQL connections one process's pool may hold
    stream_blocks: Level | None = None  # bytes in the blocks NATS's streams are writing

    def memory_growth(self, process: ProcessFigures) -> float:
        """RSS growth, NATS's net of its streams' write caches filling."""
        if process.name != "nats" or self.stream_blocks is None or not process.rss.first:
            return process.rss.growth
        cache = NATS_CACHE_RSS_FACTOR * max(0.0, self.stream_blocks.last - self.stream_blocks.first)
        return (process.rss.last - process.rss.first - cache) / process.rss.first

    def pool_rise(self, database: str) -> float:
        """The rise of a database's backends that its process's pool explains (inside the pool's bound)."""
        level = self.backends.get(database)
        if level is None or level.last > self.pool_bound:
            return 0.0
        return max(0.0, level.last - level.first_max)

    def pooled_rise(self, process: str) -> float:
        """The rise of a process's connections its pool explains (PostgreSQL's: all the pools')."""
        if process == "postgres":
            return sum(self.pool_rise(database) for database in self.backends)
        return self.pool_rise(process)

    def verdicts(self) -> list[Verdict]:
        judged = None if self.short else True
        memory = [p for p in self.processes if self.memory_growth(p) >= MEMORY_GROWTH_LIMIT]
        # PostgreSQL's descriptors are the postmaster's: its backends' sockets are not among them.
        fds = [
            p.name
            for p in self.processes
            if p.fds.grew_beyond(0.0 if p.name == "postgres" else self.pooled_rise(p.name))
        ]
        connections = [p.name for p in self.processes if p.connections.grew_beyond(self.pooled_rise(p.name))]
        connections += [f"pg:{db}" for db, level in self.backends.items() if level.grew_beyond(self.pool_rise(db))]
        p99_ok = self.p99_last_ms <= P99_TOLERANCE * self.p99_first_ms
        no = "short form: not judged"
        quiet = no if self.short else "none"
        if self.short:
            memory, fds, connections = [], [], []
        return [
            Verdict("errors", self.errors.total == 0, f"{self.errors.total} errors in {self.requests} requests"),
            Verdict(
                "memory growth < 5 % per process",
                judged and not memory,
                ", ".join(f"{p.name} +{100 * self.memory_growth(p):.1f} %" for p in memory) or quiet,
            ),
            Verdict("no growth of file descriptors", judged and not fds, ", ".join(fds) or quiet),
            Verdict("no growth of connections", judged and not connections, ", ".join(connections) or quiet),
            Verdict(
                "p99 stable (last window <= 1.5 x first)",
                judged and p99_ok,
                f"{self.p99_first_ms:.0f} ms -> {self.p99_last_ms:.0f} ms" + (f" ({no})" if self.short else ""),
            ),
            Verdict(
                "no process restarted",
                not self.restarts,
                ", ".join(f"{n} {c}" for n, c in self.restarts.items()) or "none",
            ),
        ]

    @property
    def passed(self) -> bool:
        return all(v.ok is not False for v in self.verdicts())

    def render(self) -> str:
        first, last = self.windows.first, self.windows.last
        lines = [""]
        if self.maximum is not None:
            lines.append(f"soak: maximum {self.maximum:.1f} visits/s ({self.maximum_why})")
            for s in self.steps:
                lines.append(
                    f"  step {s.rate:6.1f} visits/s: served {s.achieved:5.1f}/s, {s.requests_per_second:6.1f} req/s, "
                    f"p99 {s.p99_ms:5.0f} ms, {s.server_errors} server errors"
                )
        mix = ", ".join(f"{kind} {count}" for kind, count in sorted(self.visits.items()))
        lines += [
            f"soak: {self.rate:.1f} visits/s for {self.seconds / 60:.1f} min: {self.requests} requests "
            f"({self.requests / max(1.0, self.seconds):.1f}/s); visits: {mix}",
            f"  settings: {', '.join(f'{k}={v}' for k, v in self.settings.items())}",
            f"  checkouts: {', '.join(f'{k} {n}' for k, n in self.checkouts.most_common()) or 'none'}",
            f"  windows compared: {first[0] - self.start:.0f}-{first[1] - self.start:.0f} s and "
            f"{last[0] - self.start:.0f}-{last[1] - self.start:.0f} s",
            f"  {'PROCESS':<10} {'SAMPLES':>7} {'RSS FIRST':>10} {'RSS LAST':>10} {'GROWTH':>8} "
            f"{'FDS':>11} {'CONNECTIONS':>11}",
        ]
        for p in self.processes:
            rss = f"{p.rss.first / MIB:8.1f}Mi {p.rss.last / MIB:8.1f}Mi {100 * p.rss.growth:+7.1f}%"
            lines.append(f"  {p.name:<10} {p.samples:>7} {rss} {_level(p.fds):>11} {_level(p.connections):>11}")
        lines.append("  (postgres: anonymous memory of the postmaster and its backends; connections: client backends)")
        lines.append("  RSS (MiB), the median of each 5 minutes:")
        lines += [f"  {p.name:<10} " + " ".join(f"{rss / MIB:6.1f}" for rss in p.rss_trend) for p in self.processes]
        backends = ", ".join(f"{db} {_level(level)}" for db, level in self.backends.items())
        lines.append(
            f"  PostgreSQL backends per database (first -> last; a pool holds up to {self.pool_bound}): "
            f"{backends or 'none'}"
        )
        if self.stream_blocks is not None:
            blocks = self.stream_blocks
            lines.append(
                f"  NATS streams' current blocks (its write cache): {blocks.first / MIB:.1f}Mi -> "
                f"{blocks.last / MIB:.1f}Mi; memory growth net of {NATS_CACHE_RSS_FACTOR:g} x that: "
                + ", ".join(f"{100 * self.memory_growth(p):+.1f} %" for p in self.processes if p.name == "nats")
            )
        lines.append(f"  {'MINUTE':>6} {'REQUESTS':>9} {'5XX/NONE':>9} {'P50 MS':>7} {'P99 MS':>7}")
        lines += [
            f"  {m.minute:>6} {m.requests:>9} {m.errors:>9} {m.p50_ms:>7.0f} {m.p99_ms:>7.0f}" for m in self.minutes
        ]
        lines.append(f"  {'ROUTE':<34} {'REQUESTS':>9} {'P50 MS':>7} {'P99 MS':>7}")
        lines += [f"  {r.route:<34} {r.requests:>9} {r.p50_ms:>7.0f} {r.p99_ms:>7.0f}" for r in self.routes]
        lines.append(f"  p99 first window {self.p99_first_ms:.0f} ms, last window {self.p99_last_ms:.0f} ms")
        for title, tally in (
            ("server error", self.errors.server),
            ("unexpected 4xx", self.errors.unexpected),
            ("failed checkout", self.errors.failed_checkouts),
        ):
            lines += [f"    {title}: {n} x {what}" for what, n in tally.most_common(10)]
        if self.errors.broken_visits or self.errors.shed:
            lines.append(f"    visits broken off: {self.errors.broken_visits}; arrivals shed: {self.errors.shed}")
        if self.missed:
            lines.append(f"  samples missed: {', '.join(sorted(set(self.missed)))}")
        lines.append("  verdicts:")
        lines += [f"    {v.word:<6} {v.criterion}: {v.detail}" for v in self.verdicts()]
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "settings": self.settings,
                "maximum_visits_per_second": self.maximum,
                "maximum_why": self.maximum_why,
                "steps": [asdict(s) for s in self.steps],
                "rate_visits_per_second": round(self.rate, 2),
                "seconds": round(self.seconds, 1),
                "requests": self.requests,
                "visits": self.visits,
                "checkouts": dict(self.checkouts),
                "windows_seconds": [
                    [round(t - self.start, 1) for t in w] for w in (self.windows.first, self.windows.last)
                ],
                "processes": {
                    p.name: {
                        "samples": p.samples,
                        "rss": asdict(p.rss),
                        "rss_growth": round(p.rss.growth, 4),
                        "fds": asdict(p.fds),
                        "connections": asdict(p.connections),
                        "rss_trend": list(p.rss_trend),
                    }
                    for p in self.processes
                },
                "postgres_backends": {db: asdict(level) for db, level in self.backends.items()},
                "pool_bound": self.pool_bound,
                "nats_stream_blocks": asdict(self.stream_blocks) if self.stream_blocks else None,
                "memory_growth_judged": {p.name: round(self.memory_growth(p), 4) for p in self.processes},
                "minutes": [asdict(m) for m in self.minutes],
                "routes": [asdict(r) for r in self.routes],
                "p99_first_ms": round(self.p99_first_ms, 1),
                "p99_last_ms": round(self.p99_last_ms, 1),
                "errors": {
                    "total": self.errors.total,
                    "server": dict(self.errors.server),
                    "unexpected_4xx": dict(self.errors.unexpected),
                    "failed_checkouts": dict(self.errors.failed_checkouts),
                    "broken_visits": self.errors.broken_visits,
                    "shed": self.errors.shed,
                },
                "restarts": self.restarts,
                "verdicts": {v.criterion: v.ok for v in self.verdicts()},
                "passed": self.passed,
            }
        )


def _level(level: Level) -> str:
    return f"{level.first:g} -> {level.last:g}"
