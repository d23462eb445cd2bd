"""Everything an assessment is computed from: the purchase plus what the counters know about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from shop_fraud.domain.purchase import KeyKind, Purchase


class Window(Enum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"

    @property
    def length(self) -> timedelta:
        return _LENGTHS[self]


_LENGTHS = {Window.HOUR: timedelta(hours=1), Window.DAY: timedelta(hours=24), Window.WEEK: timedelta(days=7)}
LONGEST_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class WindowCounts:
    """Earlier purchases (not counting the one being assessed) within each window."""

    hour: int = 0
    day: int = 0
    week: int = 0

    def within(self, window: Window) -> int:
        return {Window.HOUR: self.hour, Window.DAY: self.day, Window.WEEK: self.week}[window]


@dataclass(frozen=True)
class Velocity:
    """What the counters say about the purchase's keys over the last 7 days."""

    counts: Mapping[KeyKind, WindowCounts] = field(default_factory=dict)
    other_cards_on_device: int = 0  # distinct cards other than this one used on the device
    other_buyers_on_device: int = 0  # distinct accounts/guest emails other than this buyer on the device

    def of(self, kind: KeyKind) -> WindowCounts:
        return self.counts.get(kind, WindowCounts())


@dataclass(frozen=True)
class History:
    """The customer's past orders in the purchase's currency (cancelled ones left out)."""

    orders: int = 0
    median_amount: int = 0


@dataclass(frozen=True)
class Signals:
    purchase: Purchase
    now: datetime
    velocity: Velocity = field(default_factory=Velocity)
    history: History = field(default_factory=History)
    deny_listed: frozenset[KeyKind] = frozenset()
