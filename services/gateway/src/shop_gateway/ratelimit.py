"""Per-client rate limits: token buckets kept in this process.

Each client (the token's subject, or the network address for anonymous callers) has a bucket that
refills at `rate` tokens per second up to `burst`; a request takes one token. Anonymous IPv4
clients are keyed by address, IPv6 clients by their /64: one subscriber usually holds a whole /64,
and keying per address would give each of its 2^64 addresses a fresh bucket.

The buckets live in memory, so with N gateway replicas a client may make up to N times the limit;
that is the accepted trade-off for not putting a shared store on every request's path. Memory
follows the clients of the last few seconds, not every client ever seen: a bucket untouched for long
enough to have refilled is the same as a new one, so it is dropped (its client's next request gets a
full bucket, exactly what keeping it would have given). Past `max_keys` buckets of clients still
refilling, the least recently used go first (a dropped bucket comes back full, which only favours the
client).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from shopkit.errors import ResourceExhausted
from shopkit.expiring import Expiring


class RateLimited(ResourceExhausted):
    """RESOURCE_EXHAUSTED with a google.rpc.RetryInfo; HTTP answers 429 with Retry-After."""

    def __init__(self, retry_after: float):
        self.retry_after_seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many requests; retry in {self.retry_after_seconds} s",
            reason="RATE_LIMITED",
            metadata={"retry_after_seconds": str(self.retry_after_seconds)},
        )


IPV6_CLIENT_PREFIX = 64


def address_key(ip: str) -> str:
    """The bucket of an anonymous client: its IPv4 address, or its IPv6 /64 network."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(
        self, rate: float, burst: int, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.refill_seconds = burst / rate
        # A bucket lives until it has refilled: from then on it is the same as a new one.
        self._buckets: Expiring[str, _Bucket] = Expiring(max_keys)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until a token is there."""
        now = self.clock()
        bucket = self._buckets.get(key, now)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets.put(key, bucket, now + self.refill_seconds, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class RateLimiter:
    """Signed-in clients by subject, anonymous ones by network address, each with its own limits."""

    def __init__(self, subjects: TokenBuckets, addresses: TokenBuckets, enabled: bool = True):
        self.subjects = subjects
        self.addresses = addresses
        self.enabled = enabled

    def check(self, subject: str, ip: str) -> None:
        if not self.enabled:
            return
        wait = self.subjects.take(subject) if subject else self.addresses.take(address_key(ip))
        if wait > 0:
            raise RateLimited(wait)
