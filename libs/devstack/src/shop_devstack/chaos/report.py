"""The figures of a chaos run: checkouts attempted, completed, declined and failed (by failure code and
step), kills per process and the time each took to recover, every invariant with its count, and the
completion rate of the checkouts that were not declined against the issue's target (>= 99 %)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shop_devstack.chaos.invariants import Invariant
from shop_devstack.chaos.killer import Kill
from shop_devstack.chaos.storefront import COMPLETED, DECLINED, FAILED, Outcome

COMPLETION_TARGET = 0.99


@dataclass
class Report:
    outcomes: Sequence[Outcome]
    kills: Sequence[Kill]
    invariants: Sequence[Invariant]
    seconds: float  # of the load (first checkout started to last answered)
    settle_seconds: float  # after the load, until nothing moved any more
    settings: dict[str, Any] = field(default_factory=dict)
    unsettled: dict[str, int] = field(default_factory=dict)  # what still moved when the settle wait ended
    short: bool = False  # the short form: the completion rate is reported, not required

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def completion(self) -> float:
        """Completed checkouts of those not declined (1.0 when there were none)."""
        considered = len(self.outcomes) - self.count(DECLINED)
        return self.count(COMPLETED) / considered if considered else 1.0

    @property
    def invariants_kept(self) -> bool:
        return all(invariant.kept for invariant in self.invariants)

    def failures(self) -> Counter[tuple[str, str]]:
        return Counter((o.code, o.step or "-") for o in self.outcomes if o.result == FAILED)

    def declines(self) -> Counter[tuple[str, str]]:
        return Counter((o.code, o.step or "-") for o in self.outcomes if o.result == DECLINED)

    def recoveries(self) -> list[float]:
        return sorted(k.recovered_after for k in self.kills if k.recovered_after is not None)

    def render(self) -> str:
        n = len(self.outcomes)
        rate = n / self.seconds if self.seconds else 0.0
        lines = [
            "",
            f"chaos: {n} checkouts in {self.seconds:.0f} s ({rate:.1f}/s), "
            f"{len(self.kills)} processes SIGKILLed; settled {self.settle_seconds:.0f} s after the load",
            f"  settings: {', '.join(f'{k}={v}' for k, v in self.settings.items())}",
            f"  attempted {n}, completed {self.count(COMPLETED)}, declined {self.count(DECLINED)}, "
            f"failed {self.count(FAILED)}",
        ]
        for title, tally in (("failed", self.failures()), ("declined", self.declines())):
            for (code, step), count in tally.most_common():
                lines.append(f"    {title}: {count} x {code} at {step}")
        posts = [o.posts for o in self.outcomes]
        if posts:
            retried = sum(1 for p in posts if p > 1)
            lines.append(f"  retried with the same key: {retried} checkouts (up to {max(posts)} POSTs)")
            seconds = sorted(o.seconds for o in self.outcomes)
            lines.append(
                f"  time to a final answer: p50 {statistics.median(seconds):.1f} s, "
                f"p99 {seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))]:.1f} s, max {seconds[-1]:.1f} s"
            )
        per_process = Counter(k.process for k in self.kills)
        lines.append("  kills: " + (", ".join(f"{p} {c}" for p, c in sorted(per_process.items())) or "none"))
        recoveries = self.recoveries()
        if recoveries:
            back = [k for k in self.kills if k.recovered_after is not None]
            slowest = max(back, key=lambda k: k.recovered_after or 0.0)
            lines.append(
                f"  time to recover (SERVING again): median {statistics.median(recoveries):.1f} s, "
                f"max {recoveries[-1]:.1f} s ({slowest.process})"
            )
        unrecovered = [k.process for k in self.kills if k.recovered_after is None]
        if unrecovered:
            lines.append(f"  NOT recovered: {', '.join(unrecovered)}")
        if self.unsettled:
            lines.append(f"  still moving when the settle wait ended: {self.unsettled}")
        lines.append("  invariants:")
        for invariant in self.invariants:
            verdict = "ok" if invariant.kept else "VIOLATED"
            lines.append(
                f"    {verdict:<8} {invariant.name}: {invariant.violations} violations ({invariant.checked} checked)"
            )
            lines.extend(f"             e.g. {example}" for example in invariant.examples)
        met = "met" if self.completion >= COMPLETION_TARGET else "MISSED"
        lines.append(
            f"  completion of non-declined checkouts: {100 * self.completion:.2f} % "
            f"(target >= {100 * COMPLETION_TARGET:g} %: {met})"
        )
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "settings": self.settings,
                "attempted": len(self.outcomes),
                "completed": self.count(COMPLETED),
                "declined": self.count(DECLINED),
                "failed": self.count(FAILED),
                "failed_by_code_and_step": {f"{c} at {s}": n for (c, s), n in self.failures().items()},
                "declined_by_code_and_step": {f"{c} at {s}": n for (c, s), n in self.declines().items()},
                "completion": round(self.completion, 4),
                "seconds": round(self.seconds, 1),
                "settle_seconds": round(self.settle_seconds, 1),
                "kills": dict(Counter(k.process for k in self.kills)),
                "recovery_seconds": [round(s, 2) for s in self.recoveries()],
                "unrecovered": [k.process for k in self.kills if k.recovered_after is None],
                "unsettled": self.unsettled,
                "invariants": {i.name: i.violations for i in self.invariants},
            }
        )
