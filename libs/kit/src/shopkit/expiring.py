"""An in-memory map whose entries are good until their deadline, for state that a process keeps per
client (a rate-limit bucket, a signed or verified token) and that must not grow with every client
ever seen.

Entries sit in the order they were last put. Callers put with a fixed lifetime (deadline = now +
the same span each time), so the entries past their time gather at the front and each `put` drops
them there: O(1) on average, no sweeper. Past `size` entries the oldest go too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Expiring(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> V | None:
        """The value of `key`, None when there is none or it is past its deadline."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > now else None

    def put(self, key: K, value: V, deadline: float, now: float) -> None:
        """Keep `value` until `deadline`, as the newest entry."""
        entries = self._entries
        entries.pop(key, None)
        while entries:
            oldest = next(iter(entries.values()))
            if oldest[1] > now and len(entries) < self.size:
                break
            entries.popitem(last=False)
        entries[key] = (value, deadline)
