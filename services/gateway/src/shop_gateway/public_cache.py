"""A short-lived cache of public read answers at the edge (CDN-style micro-caching).

Only answers that are the same for every anonymous caller belong here: the HTTP adapter stores the
200 answers of GET requests *without* an `Authorization` header to the browse routes. An anonymous
caller always gets the gateway's default channel, country and currency, so such an answer depends only
on its path and query, which are the key. A signed-in caller's answer (B2B account prices, customer
group discounts) is never stored and never served from here. What an anonymous caller may see is
decided before an answer reaches this cache: a product that is not active or not in the `web` channel
is a 404 for that caller, and only 200 answers are stored, so no entry carries it.

Staleness: an entry is served at most `ttl_seconds` after the backends produced it. Writes made
through this gateway (admin product, price and stock changes) drop every entry at once; changes made
elsewhere (another replica, a checkout taking stock, dynamic pricing) show within `ttl_seconds`.
Memory is bounded: at most `max_entries` answers of at most `max_body_bytes` each, least recently
used first out.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    body: bytes
    content_type: bytes
    etag: bytes  # a strong validator: a quoted digest of the body
    stored_at: float
    expires_at: float


def etag_of(body: bytes) -> bytes:
    return b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


class PublicCache:
    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int,
        max_body_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        # Bumped by `purge`: an answer computed before a purge must not be stored after it.
        self.generation = 0
        self._entries: OrderedDict[bytes, CachedAnswer] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> CachedAnswer | None:
        """The fresh answer stored under `key`, if any."""
        found = self._entries.get(key)
        if found is None:
            return None
        if self.clock() >= found.expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found

    def answer(self, body: bytes, content_type: bytes) -> CachedAnswer:
        """An answer with its validator and expiry, not stored."""
        now = self.clock()
        return CachedAnswer(body, content_type, etag_of(body), now, now + self.ttl_seconds)

    def put(self, key: bytes, answer: CachedAnswer, generation: int) -> bool:
        """Store `answer` unless it is too large or the cache was purged since `generation` was read."""
        if generation != self.generation or len(answer.body) > self.max_body_bytes:
            return False
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def purge(self) -> None:
        """Forget every answer (the gateway changed catalog, price or stock data)."""
        self.generation += 1
        self._entries.clear()
