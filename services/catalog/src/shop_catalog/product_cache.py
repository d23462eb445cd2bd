"""GetProduct answers kept in memory for a short time.

The catalog is the only writer of its tables, and every write path of this process (create, update,
discontinue, each committed import chunk) calls `changed()` after its commit, which forgets every
entry: this replica never answers from memory what it changed itself. Another replica's write shows
here within `ttl_seconds` (the staleness bound with several replicas). A read that started before a
write committed is not stored (the generation check), so it cannot bring back the old product.
Memory is bounded by `max_entries`, the least recently used first out.

The entries are the response messages themselves (gRPC only serializes them, nothing mutates them),
each with the channels it may be shown in (`visibility.shown_in`): one entry serves every caller, and
the caller's right to see it is checked on every read, hit or miss.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from shop.catalog.v1 import catalog_pb2
from shop_catalog.visibility import Channels, shown_in

Key = tuple[str, str]  # ("id", uuid text) or ("slug", slug)


class Entry(NamedTuple):
    product: catalog_pb2.Product
    shown_in: Channels

    @classmethod
    def of(cls, product: catalog_pb2.Product) -> Entry:
        return cls(product, shown_in(product))


class ProductCache:
    def __init__(self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self._entries: OrderedDict[Key, tuple[Entry, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Entry | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self.clock() >= found[1]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, keys: tuple[Key, ...], product: catalog_pb2.Product, generation: int) -> Entry:
        """Keep `product` under each of `keys`, unless a write committed since `generation` was read;
        its entry either way (the reader checks the caller against it)."""
        entry = Entry.of(product)
        if generation != self.generation or not self.enabled:
            return entry
        expires_at = self.clock() + self.ttl_seconds
        for key in keys:
            self._entries[key] = (entry, expires_at)
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def changed(self) -> None:
        """This process wrote products: forget every answer (writes are rare next to reads)."""
        self.generation += 1
        self._entries.clear()
