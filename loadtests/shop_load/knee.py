"""A step-load shape that finds the knee: the number of users at which p99 passes a threshold.

Users grow by `SHOP_KNEE_STEP_USERS` every `SHOP_KNEE_STEP_SECONDS`. At the end of each step the
shape records the step's figures (users, requests/s, p50 and p99 of locust's current window, the
last 10 s) and stops the run after the first step whose p99 passed `SHOP_KNEE_P99_MS`, or after
`SHOP_KNEE_MAX_USERS`. The steps go to stdout and, with `SHOP_KNEE_CSV`, to a CSV file.
"""

from __future__ import annotations

import csv
import os
from dataclasses import astuple, dataclass, fields

from locust import LoadTestShape


@dataclass(frozen=True)
class Step:
    users: int
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class StepLoad(LoadTestShape):
    step_users = int(_number("SHOP_KNEE_STEP_USERS", 8))
    step_seconds = _number("SHOP_KNEE_STEP_SECONDS", 30)
    max_users = int(_number("SHOP_KNEE_MAX_USERS", 200))
    p99_limit_ms = _number("SHOP_KNEE_P99_MS", 1000)

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.steps: list[Step] = []
        self.done = False

    def tick(self) -> tuple[int, float] | None:
        if self.done:
            return None
        step = int(self.get_run_time() // self.step_seconds)  # type: ignore[no-untyped-call]
        if step > len(self.steps):  # a step just ended: record it before the next one starts
            self.steps.append(self._measure(len(self.steps) + 1))
            last = self.steps[-1]
            if last.p99_ms > self.p99_limit_ms or last.users >= self.max_users:
                self._report()
                self.done = True
                return None
        users = min(self.step_users * (len(self.steps) + 1), self.max_users)
        return users, float(self.step_users)

    def _measure(self, number: int) -> Step:
        assert self.runner is not None
        total = self.runner.stats.total
        return Step(
            users=min(self.step_users * number, self.max_users),
            rps=round(total.current_rps, 1),
            p50_ms=float(total.get_current_response_time_percentile(0.5) or 0),
            p99_ms=float(total.get_current_response_time_percentile(0.99) or 0),
            failures=total.num_failures,
        )

    def _report(self) -> None:
        print(f"{'USERS':>6} {'REQ/S':>8} {'P50 MS':>8} {'P99 MS':>8} {'FAILURES':>9}")
        for step in self.steps:
            print(f"{step.users:>6} {step.rps:>8.1f} {step.p50_ms:>8.0f} {step.p99_ms:>8.0f} {step.failures:>9}")
        over = [step for step in self.steps if step.p99_ms > self.p99_limit_ms]
        if over:
            below = [step.users for step in self.steps if step.p99_ms <= self.p99_limit_ms]
            held = f"; it held at {below[-1]} users" if below else ""
            print(f"knee: p99 passed {self.p99_limit_ms:.0f} ms at {over[0].users} users{held}")
        else:
            print(f"no knee up to {self.steps[-1].users} users: p99 stayed under {self.p99_limit_ms:.0f} ms")
        path = os.environ.get("SHOP_KNEE_CSV")
        if path:
            with open(path, "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow([f.name for f in fields(Step)])
                writer.writerows(astuple(step) for step in self.steps)
