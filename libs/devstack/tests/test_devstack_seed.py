"""Which services `shop-dev run` seeds again: those whose marker holds fewer demo products than asked
(a test stack's small seed is topped up by a plain `shop-dev run`), never one that holds as many."""

from __future__ import annotations

import json
from pathlib import Path

from shop_devstack.demo_size import DEMO_PRODUCTS, TEST_DEMO_PRODUCTS
from shop_devstack.seed import seeded


def test_a_marker_counts_only_for_as_many_products_as_it_holds(tmp_path: Path) -> None:
    marker = tmp_path / "catalog.json"
    assert not seeded(marker, TEST_DEMO_PRODUCTS)  # no marker: never seeded
    marker.write_text(json.dumps({"demo_products": TEST_DEMO_PRODUCTS, "products": TEST_DEMO_PRODUCTS}))
    assert seeded(marker, TEST_DEMO_PRODUCTS)
    assert seeded(marker, TEST_DEMO_PRODUCTS - 1)
    assert not seeded(marker, DEMO_PRODUCTS)  # the whole catalogue was asked for: seed the rest


def test_a_marker_from_before_the_count_holds_the_whole_catalogue(tmp_path: Path) -> None:
    marker = tmp_path / "pricing.json"
    marker.write_text(json.dumps({"seeded_at": "2026-01-01T00:00:00", "base prices": 5928}))
    assert seeded(marker, DEMO_PRODUCTS)


def test_an_unreadable_marker_is_seeded_again(tmp_path: Path) -> None:
    marker = tmp_path / "inventory.json"
    for text in ("{not json", "[]", '{"demo_products": "many"}', '{"demo_products": null}'):
        marker.write_text(text)
        assert not seeded(marker, TEST_DEMO_PRODUCTS), text
