"""Dynamic pricing: a bounded, rate-limited reaction of base prices to stock levels.

The anchor is the base price an admin last set; the rule only ever moves the price around it:
- target: anchor + raise_bp when total_available < low_stock_threshold, anchor - lower_bp when
  total_available > high_stock_threshold, the anchor itself in between (prices recover when stock
  does), always clamped to [floor_bp, ceiling_bp] of the anchor;
- one step moves towards the target by at most max_step_bp of the anchor (at least one minor unit);
- no step within cooldown_seconds of the previous dynamic change of the same price.
Every amount is an integer; basis-point products round half away from zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shopkit.money import percent_of

FULL_BP = 10_000


@dataclass(frozen=True, slots=True)
class DynamicRule:
    id: str
    name: str
    skus: frozenset[str]
    currency: str = ""  # empty: every currency the SKU has a base price in
    low_stock_threshold: int | None = None
    raise_bp: int = 0
    high_stock_threshold: int | None = None
    lower_bp: int = 0
    floor_bp: int = FULL_BP
    ceiling_bp: int = FULL_BP
    max_step_bp: int = FULL_BP
    cooldown_seconds: int = 0
    enabled: bool = True

    def target_bp(self, total_available: int) -> int:
        """The price the stock level asks for, as basis points of the anchor, within the bounds."""
        if self.low_stock_threshold is not None and total_available < self.low_stock_threshold:
            wanted = FULL_BP + self.raise_bp
        elif self.high_stock_threshold is not None and total_available > self.high_stock_threshold:
            wanted = FULL_BP - self.lower_bp
        else:
            wanted = FULL_BP
        return max(self.floor_bp, min(self.ceiling_bp, wanted))


@dataclass(frozen=True, slots=True)
class DynamicPrice:
    """A base price as the dynamic rule sees it."""

    sku: str
    currency: str
    amount: int
    anchor: int
    last_dynamic_change: datetime | None = None


def next_price(rule: DynamicRule, price: DynamicPrice, total_available: int, now: datetime) -> int | None:
    """The new amount after one step of `rule`, or None when the price stays (in bounds, cooling down)."""
    if not rule.enabled or price.anchor <= 0:
        return None
    if price.last_dynamic_change is not None and now < price.last_dynamic_change + timedelta(
        seconds=rule.cooldown_seconds
    ):
        return None
    floor = percent_of(price.anchor, rule.floor_bp)
    ceiling = percent_of(price.anchor, rule.ceiling_bp)
    target = percent_of(price.anchor, rule.target_bp(total_available))
    max_step = max(1, percent_of(price.anchor, rule.max_step_bp))
    step = max(-max_step, min(max_step, target - price.amount))
    new_amount = max(floor, min(ceiling, price.amount + step))
    return None if new_amount == price.amount else new_amount
