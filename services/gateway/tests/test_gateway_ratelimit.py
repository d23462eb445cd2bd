"""The token buckets on a clock of the test's own: the limit, and memory that follows recent clients."""

from __future__ import annotations

from shop_gateway.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5
    clock.now += 0.5
    assert buckets.take("a") == 0.0


def test_buckets_of_clients_gone_long_enough_to_refill_are_dropped() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=4, clock=clock)  # refills in 2 s
    for client in range(1000):
        buckets.take(f"gone-{client}")
        clock.now += 0.001
    assert len(buckets) == 1000
    clock.now += 2.0
    buckets.take("new")
    assert len(buckets) == 1


def test_a_bucket_still_refilling_is_kept_and_a_returning_client_finds_it_full() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=2, clock=clock)  # refills in 2 s
    buckets.take("busy")
    buckets.take("busy")
    assert buckets.take("busy") > 0
    clock.now += 1.5
    buckets.take("other")
    assert len(buckets) == 2  # "busy" has 1.5 tokens of 2: dropping it would give it more
    clock.now += 0.5
    buckets.take("other")
    assert len(buckets) == 1  # "busy" refilled: dropped
    assert [buckets.take("busy"), buckets.take("busy")] == [0.0, 0.0]
    assert buckets.take("busy") > 0


def test_past_the_cap_the_least_recently_used_bucket_goes_first() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=2, clock=clock)
    for client in ("a", "b", "c"):
        buckets.take(client)
    assert len(buckets) == 2
    assert buckets.take("b") > 0  # kept: still empty
    assert buckets.take("a") == 0.0  # dropped: comes back full
