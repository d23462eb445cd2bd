"""`shopkit.expiring.Expiring`: entries live until their deadline and never beyond `size`."""

from __future__ import annotations

from shopkit.expiring import Expiring


def test_an_entry_is_good_until_its_deadline_and_dropped_by_a_later_put() -> None:
    cache: Expiring[str, int] = Expiring(size=10)
    cache.put("a", 1, deadline=10.0, now=0.0)
    assert cache.get("a", now=9.9) == 1
    assert cache.get("a", now=10.0) is None
    cache.put("b", 2, deadline=20.0, now=10.0)
    assert len(cache) == 1


def test_past_size_the_oldest_goes_but_putting_a_kept_key_again_drops_nothing() -> None:
    cache: Expiring[str, int] = Expiring(size=2)
    cache.put("a", 1, deadline=100.0, now=0.0)
    cache.put("b", 2, deadline=101.0, now=1.0)
    cache.put("b", 3, deadline=102.0, now=2.0)
    assert (cache.get("a", now=2.0), cache.get("b", now=2.0)) == (1, 3)
    cache.put("c", 4, deadline=103.0, now=3.0)
    assert cache.get("a", now=3.0) is None
    assert (cache.get("b", now=3.0), cache.get("c", now=3.0)) == (3, 4)
