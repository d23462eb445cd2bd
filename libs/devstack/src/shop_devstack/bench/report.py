"""Figures of the suite: each beside its baseline of the same run, its ratio, the issue's target and
whether it is met; printed as a line when measured, as a table at the end, and as JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

Subject = Literal["ratio", "value"]


@dataclass(frozen=True)
class Target:
    """What the issue asks of a figure: its ratio (or its value) at least / at most `bound`."""

    subject: Subject
    op: Literal[">=", "<=", "=="]
    bound: float

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        measured = ratio if self.subject == "ratio" else value
        if measured is None:
            return None
        if self.op == ">=":
            return measured >= self.bound
        if self.op == "<=":
            return measured <= self.bound
        return measured == self.bound

    def __str__(self) -> str:
        return f"{'ratio ' if self.subject == 'ratio' else ''}{self.op} {self.bound:g}"


@dataclass
class Figure:
    case: str  # B1..B8
    name: str  # what was measured, e.g. "c=16 checkouts/s"
    value: float
    unit: str
    target: Target | None = None
    baseline: float | None = None
    baseline_name: str = ""  # e.g. "floor"
    note: str = ""
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)

    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "-"}[self.met]

    def line(self) -> str:
        """E.g. `B1 c=16: 12.3 checkouts/s, floor 180/s, ratio 0.07 (target ratio >= 0.25) MISSED`."""
        parts = [f"{self.case} {self.name}: {number(self.value)} {self.unit}"]
        if self.baseline is not None:
            parts.append(f"{self.baseline_name} {number(self.baseline)}")
        if self.ratio is not None:
            parts.append(f"ratio {self.ratio:.2f}")
        text = ", ".join(parts)
        if self.target is not None:
            text += f" (target {self.target}) {self.verdict()}"
        if self.note:
            text += f"  [{self.note}]"
        return text

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["target"] = str(self.target) if self.target else None
        data["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        data["met"] = self.met
        return data


def number(value: float) -> str:
    if value == 0 or abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # case -> why it could not be measured
    started: float = field(default_factory=time.monotonic)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        say(figure.line())
        return figure

    def fail(self, case: str, reason: str) -> None:
        self.failures[case] = reason
        say(f"{case} FAILED: {reason}")

    def table(self) -> str:
        headers = ("CASE", "FIGURE", "VALUE", "BASELINE", "RATIO", "TARGET", "MET")
        rows = [
            (
                f.case,
                f.name,
                f"{number(f.value)} {f.unit}",
                "" if f.baseline is None else f"{number(f.baseline)} ({f.baseline_name})",
                "" if f.ratio is None else f"{f.ratio:.2f}",
                "" if f.target is None else str(f.target),
                f.verdict(),
            )
            for f in self.figures
        ]
        rows += [
            (case, "could not be measured", reason[:60], "", "", "", "FAILED") for case, reason in self.failures.items()
        ]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        elapsed = time.monotonic() - self.started
        met = sum(1 for f in self.figures if f.met)
        judged = sum(1 for f in self.figures if f.met is not None)
        lines.append(f"{met} of {judged} targets met; {len(self.failures)} case(s) failed; {elapsed:.0f} s in all")
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "figures": [f.as_json() for f in self.figures],
                "failures": self.failures,
                "seconds": round(time.monotonic() - self.started, 1),
            },
            indent=2,
        )


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
