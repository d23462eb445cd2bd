"""ERP stock feeds: each line sets on-hand (mode "set", SetStock's rules) or changes it by a delta
(mode "adjust", AdjustStock's rules) of one SKU at one location. The shared machinery (tables, worker,
lease, report) is `shopkit.feeds`; this module reads a line and applies it.

A line is applied in a savepoint of its batch's transaction: a line that breaks a rule (an unknown
location, on-hand below what is reserved) is reported failed and undone alone, the others stay. The
stock versions and StockLevelChanged events are those of SetStock/AdjustStock; a line that changes
nothing (on-hand already so) publishes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_inventory import store
from shop_inventory.domain import Cause
from shop_inventory.operations import Inventory
from shopkit.errors import DomainError, Violations
from shopkit.feeds import APPLIED, UNCHANGED, Outcome, feed_tables, read_object, whole_number
from shopkit.identifiers import check_sku

tables = feed_tables(store.metadata, "stock_feed")
MODES = ("set", "adjust")
MAX_ON_HAND = 1_000_000_000
MAX_QUANTITY = 1_000_000


def read_line(text: str, location_ok: Any) -> tuple[tuple[str, str, int, bool] | None, Outcome | None]:
    """(sku, location, value, relative) of a line, or its failure."""
    row = read_object(text)
    if isinstance(row, str):
        return None, Outcome.failed("", row)
    v = Violations()
    sku, location = str(row.get("sku", "")), str(row.get("location_id", ""))
    key = f"{sku}@{location}"
    check_sku(v, sku, "sku")
    v.check(location_ok(location), "location_id", "must be 1-63 of a-z 0-9 -, starting alphanumeric")
    mode = str(row.get("mode") or "set").lower()
    v.check(mode in MODES, "mode", "must be set (on_hand) or adjust (delta)")
    value: int | None = None
    if mode == "adjust":
        value = whole_number(row, "delta", v)
        if value is not None:
            v.check(value != 0 and abs(value) <= MAX_QUANTITY, "delta", f"must be non-zero, at most {MAX_QUANTITY}")
    else:
        value = whole_number(row, "on_hand", v)
        if value is not None:
            v.check(0 <= value <= MAX_ON_HAND, "on_hand", f"must be 0 to {MAX_ON_HAND}")
    if v.items or value is None:
        return None, Outcome.failed(key, "invalid stock line", v.items)
    return (sku, location, value, mode == "adjust"), None


class StockFeedApplier:
    def __init__(self, inventory: Inventory, location_ok: Any):
        self.inventory = inventory
        self.location_ok = location_ok

    async def __call__(self, conn: AsyncConnection, lines: Sequence[tuple[int, str]]) -> list[Outcome]:
        outcomes = []
        for _, text in lines:
            parsed, failure = read_line(text, self.location_ok)
            if failure is not None or parsed is None:
                outcomes.append(failure or Outcome.failed("", "invalid stock line"))
                continue
            outcomes.append(await self._apply(conn, *parsed))
        return outcomes

    async def _apply(self, conn: AsyncConnection, sku: str, location: str, value: int, relative: bool) -> Outcome:
        key = f"{sku}@{location}"
        try:
            async with conn.begin_nested():
                before = {lv.location_id: lv.on_hand for lv in await store.stock_levels(conn, [sku])}
                cause = Cause.ADJUST if relative else Cause.SET
                [level] = await self.inventory.change_on_hand(conn, [(sku, location, value)], relative, cause)
        except DomainError as error:
            details = [str(getattr(v, "description", "")) for v in getattr(error, "violations", ())]
            return Outcome.failed(key, "; ".join([error.message, *filter(None, details)]))
        return Outcome(UNCHANGED if before.get(location) == level.on_hand else APPLIED, key)
